using IoUring.Abi.Clang;
using IoUring.Abi.Model;

var tree = new IncludeTree(args[0]);
var sw = System.Diagnostics.Stopwatch.StartNew();
var snap = Extractor.Extract(tree, CTarget.ParseList(args.Skip(1)), "test", new HeaderSource { Kind = "path" });
Console.Error.WriteLine($"{sw.ElapsedMilliseconds} ms");
Console.Write(SnapshotJson.Write(snap));
