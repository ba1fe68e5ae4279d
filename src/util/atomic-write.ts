import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Largest single write handed to the OS (writes above 2 GiB fail on some platforms). */
const MAX_WRITE_CHUNK = 1 << 30;

/**
 * Writes a file so that readers see either the previous content or the complete new content:
 * the bytes go to a hidden temporary file in the same directory, which is fsynced and renamed over
 * `path`, then the directory is fsynced so the rename survives a crash. If `write` throws, the
 * temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const directory = dirname(resolve(path));
  const temporary = join(directory, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fd = openSync(temporary, 'wx', 0o644);
  let renamed = false;
  try {
    try {
      write(fd);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
    renamed = true;
  } finally {
    if (!renamed) removeQuietly(temporary);
  }
  fsyncDirectory(directory);
}

/** Writes all of `bytes` at the descriptor's current position, looping over short writes. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) {
    done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, MAX_WRITE_CHUNK));
  }
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone, or the directory vanished: nothing left to clean up.
  }
}

/** Fsyncs a directory so that renames inside it survive a crash (a no-op where directories cannot be synced). */
export function fsyncDirectory(directory: string): void {
  let fd: number;
  try {
    fd = openSync(directory, 'r');
  } catch {
    return; // Directories cannot be opened on Windows; rename durability is then the OS's business.
  }
  try {
    fsyncSync(fd);
  } catch (error) {
    // Some filesystems (and Windows) refuse fsync on directories; the data itself is already synced.
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (!['EINVAL', 'EPERM', 'EISDIR', 'ENOTSUP', 'EBADF'].includes(code)) throw error;
  } finally {
    closeSync(fd);
  }
}

/** Replaces `file` with `text` (UTF-8) so that readers never see a partial file; see `writeFileAtomic`. */
export function writeTextAtomic(file: string, text: string): void {
  writeFileAtomic(file, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
}
