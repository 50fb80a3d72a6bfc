#!/usr/bin/env node
// The `tessera` binary: registers tsx in this process and runs the TypeScript CLI (src/cli/main.ts).
// One process (no child), so signals such as Ctrl-C and SIGTERM reach the server exactly once.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2));
process.exitCode = code;
