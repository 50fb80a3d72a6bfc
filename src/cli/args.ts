/**
 * Shared CLI plumbing: exit codes, flag parsing with node:util parseArgs (usage errors → exit 2),
 * and error reporting (TesseraError → its code and message).
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { TesseraError } from "../tensor/index.ts";

/** Exit codes of every `tessera` command (listed in `tessera --help`). */
export const EXIT = Object.freeze({
  /** Success. */
  OK: 0,
  /** Runtime failure: model load/run failed, the server could not start, a drain hit its deadline. */
  FAILURE: 1,
  /** Usage error: unknown command or flag, missing argument. */
  USAGE: 2,
  /** Invalid configuration: config file, environment or flag values (every problem is printed). */
  CONFIG: 3,
  /** A file or model named on the command line does not exist or cannot be read. */
  NOT_FOUND: 4,
});

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  runtime failure (model failed to load or run, server failed, drain deadline passed)
  2  usage error (unknown command or flag, missing argument)
  3  invalid configuration (every problem is listed)
  4  a file or model named on the command line was not found`;

/** What a command module exports. */
export interface CommandModule {
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
  /** Full --help text (usage, flags, examples). */
  readonly help: string;
}

export type ParsedArgs<O extends ParseArgsConfig["options"]> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>;

/** Where a command writes (tests pass buffers; the CLI passes process streams). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : `${t}\n`),
};

/**
 * Parses flags strictly. Returns the values, or an exit code after printing the problem (2) or the
 * help text (0 for --help).
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: O,
  help: string,
  io: Io = stdio,
): ParsedArgs<O> | number {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.out(help);
    return EXIT.OK;
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(
      `error: ${(e as Error).message}\n\n${help.split("\n").slice(0, 3).join("\n")}\n(run with --help for details)`,
    );
    return EXIT.USAGE;
  }
}

/** Prints an error the way every command does and returns its exit code. */
export function reportError(err: unknown, io: Io = stdio): number {
  if (err instanceof TesseraError) {
    io.err(`error ${err.code}: ${err.message}`);
    return err.code === "E_FILE_NOT_FOUND" ? EXIT.NOT_FOUND : EXIT.FAILURE;
  }
  // Node system errors (EADDRINUSE, EACCES, ENOENT, ...) explain themselves; other errors are bugs: show the stack.
  const system = err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string";
  io.err(
    `error: ${err instanceof Error ? (system ? err.message : (err.stack ?? err.message)) : String(err)}`,
  );
  return EXIT.FAILURE;
}
