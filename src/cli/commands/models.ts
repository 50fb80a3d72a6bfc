/** `tessera models`: list a repository's models with versions, state and reason (loads nothing unless --load). */
import { existsSync } from "node:fs";
import { ModelRegistry } from "../../runtime/index.ts";
import { EXIT, EXIT_CODES_HELP, type Io, parseFlags, reportError, stdio } from "../args.ts";

export const help = `usage: tessera models [--models DIR] [--load] [--json]

Lists the models in a repository folder with their versions and state.
  --models DIR   repository folder (default: $TESSERA_MODELS or ./models)
  --load         load each model to check it works (state READY or FAILED with the reason)
  --json         print a JSON array instead of a table

examples:
  tessera models
  tessera models --models /srv/models --load

${EXIT_CODES_HELP}`;

export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const parsed = parseFlags(
    argv,
    { models: { type: "string" }, load: { type: "boolean" }, json: { type: "boolean" } },
    help,
    io,
  );
  if (typeof parsed === "number") return parsed;
  const dir = parsed.values.models ?? process.env.TESSERA_MODELS ?? "./models";
  if (!existsSync(dir)) {
    io.err(`error: models folder ${dir} does not exist`);
    return EXIT.NOT_FOUND;
  }
  const registry = new ModelRegistry({ root: dir });
  try {
    if (parsed.values.load) await registry.loadAll();
    const rows = await registry.index();
    if (parsed.values.json) {
      io.out(JSON.stringify(rows, null, 2));
    } else if (rows.length === 0) {
      io.out(`no models in ${dir}`);
    } else {
      const table = [
        ["MODEL", "VERSION", "STATE", "REASON"],
        ...rows.map((r) => [r.name, r.version, r.state.toUpperCase(), r.reason ?? ""]),
      ];
      const widths = [0, 1, 2].map((c) => Math.max(...table.map((row) => row[c]!.length)));
      io.out(
        table
          .map((row) =>
            row
              .map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell))
              .join("  ")
              .trimEnd(),
          )
          .join("\n"),
      );
    }
    return parsed.values.load && rows.some((r) => r.state === "failed") ? EXIT.FAILURE : EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  } finally {
    await registry.close();
  }
}
