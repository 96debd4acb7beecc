using IoUring.Abi.Cli;

return CommandLine.Invoke(args, Console.Out, Console.Error);
