/**
 * Crash-safe file placement: write to a temporary name, fsync the file, rename over the final name,
 * fsync the directory. After a crash a reader sees either the old file or the complete new one.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** fsync a directory so a rename inside it is durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // some platforms/filesystems do not allow fsync on directories; rename is still atomic there
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Renames an already-fsynced `tmp` to `final` and fsyncs the directory. */
export function commitFile(tmp: string, final: string): void {
  fs.renameSync(tmp, final);
  fsyncDir(path.dirname(final));
}

/** Writes `data` to `file` atomically (tmp + fsync + rename + fsync dir). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, "w");
  try {
    if (typeof data === "string") fs.writeSync(fd, data);
    else fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  commitFile(tmp, file);
}
