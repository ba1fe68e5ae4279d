// Ctrl-C for in-process tests of the training commands: one SIGINT, sent once a training loop has
// installed its handler (after loading), as a user pressing Ctrl-C mid-run would.

/** Starts watching for a new SIGINT listener and emits SIGINT once when it appears; returns the stop function. */
export function interruptOnceListening(): () => void {
  const listeners = process.listenerCount('SIGINT');
  const poll = setInterval(() => {
    if (process.listenerCount('SIGINT') > listeners) {
      clearInterval(poll);
      process.emit('SIGINT');
    }
  }, 1);
  return () => clearInterval(poll);
}
