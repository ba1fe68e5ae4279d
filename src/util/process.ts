// Process helpers shared by the modules that clean up after processes that died mid-write.

/** Whether a process with this pid exists on this machine (one of another user counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
