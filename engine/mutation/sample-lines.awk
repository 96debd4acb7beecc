# Picks a sample of the engine's code lines for `./make.sh mutation-sample` and prints one Stryker
# mutate pattern per file that has any: "**/<file>{start..end}{start..end}...", each span one line's
# characters (the files are ASCII with LF line ends, so a byte offset is a character offset).
#
# A code line is one that is not blank, not a comment, not a using or namespace line, not an attribute
# and not a lone brace. Each is taken with probability want/lines, decided by a Park-Miller generator
# seeded with `seed`: every product stays below 2^53, so mawk and gawk take the same lines.
#
# Usage: awk -v want=150 -v seed=1 -f sample-lines.awk FILE.cs...

function code(line) {
    sub(/^[ \t]+/, "", line)
    return line != "" && line !~ /^\/\// && line !~ /^(using|namespace) / && line !~ /^\[/ && line !~ /^[{}][;,)]*$/
}

function next_random() {
    state = (state * 16807) % 2147483647
    return state
}

FNR == 1 {
    offset = 0
    files[++nfiles] = FILENAME
}

{
    if (code($0)) {
        lines++
        file_of[lines] = FILENAME
        start_of[lines] = offset
        end_of[lines] = offset + length($0)
    }
    offset += length($0) + 1
}

END {
    if (want <= 0 || lines == 0) {
        exit 1
    }

    state = (seed % 2147483646) + 1
    for (k = 1; k <= lines; k++) {
        if (next_random() % lines < want) {
            spans[file_of[k]] = spans[file_of[k]] "{" start_of[k] ".." end_of[k] "}"
            taken++
        }
    }

    for (f = 1; f <= nfiles; f++) {
        if (files[f] in spans) {
            name = files[f]
            sub(/.*\//, "", name)
            print "**/" name spans[files[f]]
        }
    }

    printf "%d of %d code lines taken (seed %d)\n", taken, lines, seed > "/dev/stderr"
}
