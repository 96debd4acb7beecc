using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Microsoft.CodeAnalysis.CSharp.SyntaxFactory;

namespace IoUring.Bindings.Generator;

/// <summary>
/// Builders over SyntaxFactory that lay out their own whitespace (four-space indents, one member a
/// line), in the manner of CsWin32's FastSyntaxFactory. NormalizeWhitespace would do the same job but
/// cost most of the generator's time on a kernel's thousand members.
/// </summary>
internal static class Syntax
{
    private static readonly SyntaxTrivia Eol = EndOfLine("\n");

    private static SyntaxTriviaList Indent(int depth) => depth == 0 ? TriviaList() : TriviaList(Whitespace(new string(' ', depth * 4)));

    // Names and literals are made as single nodes rather than parsed: the parser costs far more per
    // call than building the node, and a kernel has a thousand of them.
    private static TypeSyntax TypeName(string type) =>
        (type.IndexOf('.') < 0 ? IdentifierName(type) : ParseTypeName(type)).WithTrailingTrivia(Space);

    private static ExpressionSyntax Value(string text) =>
        text.Length > 0 && char.IsDigit(text[0]) && text.All(char.IsLetterOrDigit)
            ? LiteralExpression(SyntaxKind.NumericLiteralExpression, Literal(TriviaList(), text, 0, TriviaList()))
            : ParseExpression(text);

    public static string Xml(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>Leading trivia of a member: its doc comment, line by line, then the member's own indent.</summary>
    public static SyntaxTriviaList Lead(int depth, IReadOnlyList<string> doc, bool blankLineBefore = false)
    {
        var trivia = new List<SyntaxTrivia>();
        if (blankLineBefore)
        {
            trivia.Add(Eol);
        }

        if (doc.Count > 0)
        {
            foreach (var line in new[] { "<summary>" }.Concat(doc).Append("</summary>"))
            {
                trivia.AddRange(Indent(depth));
                trivia.Add(Comment("/// " + line));
                trivia.Add(Eol);
            }
        }

        trivia.AddRange(Indent(depth));
        return TriviaList(trivia);
    }

    public static string[] Doc(params string[] lines) => lines;

    private static SyntaxToken Kw(SyntaxKind kind) => Token(TriviaList(), kind, TriviaList(Space));

    private static SyntaxTokenList Modifiers(params SyntaxKind[] kinds) => TokenList(kinds.Select(Kw));

    private static SyntaxToken OpenBrace(int depth) => Token(Indent(depth), SyntaxKind.OpenBraceToken, TriviaList(Eol));

    private static SyntaxToken CloseBrace(int depth) => Token(Indent(depth), SyntaxKind.CloseBraceToken, TriviaList(Eol));

    /// <summary>"[Name(args)]" on a line of its own, followed by the indent of the declaration it adorns.</summary>
    public static AttributeListSyntax Attribute(int depth, string name, params string[] args) =>
        AttributeList(
            Token(SyntaxKind.OpenBracketToken),
            null,
            SingletonSeparatedList(SyntaxFactory.Attribute(
                IdentifierName(name),
                args.Length == 0 ? null : AttributeArgumentList(SeparatedList(
                    args.Select(a => AttributeArgument(Value(a))),
                    Enumerable.Repeat(Token(TriviaList(), SyntaxKind.CommaToken, TriviaList(Space)), args.Length - 1))))),
            Token(TriviaList(), SyntaxKind.CloseBracketToken, TriviaList(Eol).AddRange(Indent(depth))));

    public static FieldDeclarationSyntax Field(int depth, string type, string name, AttributeListSyntax? attribute, IReadOnlyList<string> doc, SyntaxKind access = SyntaxKind.PublicKeyword) =>
        FieldDeclaration(
                attribute is null ? default : SingletonList(attribute),
                Modifiers(access),
                VariableDeclaration(TypeName(type), SingletonSeparatedList(VariableDeclarator(Identifier(name)))),
                Token(TriviaList(), SyntaxKind.SemicolonToken, TriviaList(Eol)))
            .WithLeadingTrivia(Lead(depth, doc));

    public static FieldDeclarationSyntax Constant(int depth, string type, string name, string value, IReadOnlyList<string> doc) =>
        FieldDeclaration(
                default,
                Modifiers(SyntaxKind.PublicKeyword, SyntaxKind.ConstKeyword),
                VariableDeclaration(
                    TypeName(type),
                    SingletonSeparatedList(VariableDeclarator(Identifier(name).WithTrailingTrivia(Space))
                        .WithInitializer(EqualsValueClause(Token(TriviaList(), SyntaxKind.EqualsToken, TriviaList(Space)), Value(value))))),
                Token(TriviaList(), SyntaxKind.SemicolonToken, TriviaList(Eol)))
            .WithLeadingTrivia(Lead(depth, doc));

    /// <summary>The attribute lists of a declaration: the marker (a proposal's [Experimental]) first, when there is one.</summary>
    private static SyntaxList<AttributeListSyntax> Attributes(AttributeListSyntax? marker, AttributeListSyntax? attribute) =>
        List(new[] { marker, attribute }.Where(a => a is not null).Select(a => a!));

    public static StructDeclarationSyntax Struct(int depth, string name, AttributeListSyntax attribute, IEnumerable<MemberDeclarationSyntax> members, IReadOnlyList<string> doc, bool blankLineBefore, AttributeListSyntax? marker = null) =>
        StructDeclaration(
                Attributes(marker, attribute),
                Modifiers(SyntaxKind.PublicKeyword, SyntaxKind.PartialKeyword),
                Kw(SyntaxKind.StructKeyword),
                Identifier(TriviaList(), name, TriviaList(Eol)),
                null,
                null,
                default,
                OpenBrace(depth),
                List(members),
                CloseBrace(depth),
                default)
            .WithLeadingTrivia(Lead(depth, doc, blankLineBefore));

    public static ClassDeclarationSyntax StaticClass(int depth, string name, IEnumerable<MemberDeclarationSyntax> members, IReadOnlyList<string> doc, AttributeListSyntax? marker = null) =>
        ClassDeclaration(
                Attributes(marker, null),
                Modifiers(SyntaxKind.PublicKeyword, SyntaxKind.StaticKeyword, SyntaxKind.PartialKeyword),
                Kw(SyntaxKind.ClassKeyword),
                Identifier(TriviaList(), name, TriviaList(Eol)),
                null,
                null,
                default,
                OpenBrace(depth),
                List(members),
                CloseBrace(depth),
                default)
            .WithLeadingTrivia(Lead(depth, doc));

    public static EnumDeclarationSyntax Enum(int depth, string name, string underlying, AttributeListSyntax? attribute, IEnumerable<(string Name, string Value, string[] Doc)> members, IReadOnlyList<string> doc, bool blankLineBefore, AttributeListSyntax? marker = null)
    {
        var list = new List<SyntaxNodeOrToken>();
        foreach (var m in members)
        {
            list.Add(EnumMemberDeclaration(default, Identifier(TriviaList(), m.Name, TriviaList(Space)), EqualsValueClause(Token(TriviaList(), SyntaxKind.EqualsToken, TriviaList(Space)), Value(m.Value)))
                .WithLeadingTrivia(Lead(depth + 1, m.Doc)));
            list.Add(Token(TriviaList(), SyntaxKind.CommaToken, TriviaList(Eol)));
        }

        return EnumDeclaration(
                Attributes(marker, attribute),
                Modifiers(SyntaxKind.PublicKeyword),
                Kw(SyntaxKind.EnumKeyword),
                Identifier(TriviaList(), name, TriviaList(Space)),
                BaseList(Token(TriviaList(), SyntaxKind.ColonToken, TriviaList(Space)), SingletonSeparatedList<BaseTypeSyntax>(SimpleBaseType(ParseTypeName(underlying).WithTrailingTrivia(Eol)))),
                OpenBrace(depth),
                SeparatedList<EnumMemberDeclarationSyntax>(list),
                CloseBrace(depth),
                default)
            .WithLeadingTrivia(Lead(depth, doc, blankLineBefore));
    }

    /// <summary>A member written as code (accessors, bitfield properties), indented and parsed into syntax.</summary>
    public static MemberDeclarationSyntax Snippet(int depth, string code, IReadOnlyList<string> doc, bool blankLineBefore = false)
    {
        var indent = new string(' ', depth * 4);
        var text = string.Concat(code.Replace("\r\n", "\n").TrimEnd('\n').Split('\n').Select(l => l.Length == 0 ? "\n" : indent + l + "\n"));
        var member = ParseMemberDeclaration(text)!;
        var lead = Lead(depth, doc, blankLineBefore);

        // The parsed member brings its own indent; the doc comment goes in front of it.
        return member.WithLeadingTrivia(TriviaList(lead.Take(lead.Count - (depth == 0 ? 0 : 1))).AddRange(member.GetLeadingTrivia()));
    }

    public static string Render(string ns, IReadOnlyList<MemberDeclarationSyntax> members, params string[] usings) => Render(ns, null, members, usings);

    /// <summary>A whole file; <paramref name="banner"/> is an extra header comment line (a proposal says so at the top of every file).</summary>
    public static string Render(string ns, string? banner, IReadOnlyList<MemberDeclarationSyntax> members, params string[] usings)
    {
        var header = "// <auto-generated>\n// Generated by IoUring.Bindings.Generator from an ABI snapshot (generated/abi). Do not edit.\n"
            + (banner is null ? string.Empty : $"// {banner}\n")
            + "// </auto-generated>\n#nullable enable\n";
        var usingList = usings.Select(u => UsingDirective(ParseName(u)).WithUsingKeyword(Kw(SyntaxKind.UsingKeyword)).WithSemicolonToken(Token(TriviaList(), SyntaxKind.SemicolonToken, TriviaList(Eol)))).ToList();
        var nsDecl = FileScopedNamespaceDeclaration(
                default,
                default,
                Kw(SyntaxKind.NamespaceKeyword),
                ParseName(ns),
                Token(TriviaList(), SyntaxKind.SemicolonToken, TriviaList(Eol, Eol)),
                default,
                default,
                List(members))
            .WithLeadingTrivia(usingList.Count > 0 ? TriviaList(Eol) : TriviaList());
        var unit = CompilationUnit(default, List(usingList), default, SingletonList<MemberDeclarationSyntax>(nsDecl), Token(SyntaxKind.EndOfFileToken));
        return header + unit.ToFullString();
    }
}
