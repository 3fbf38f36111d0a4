import type { NodeResponse } from './types.js';

/** Calls `done` once `res` has handed its last bytes to the kernel, or has been destroyed. */
export function whenFinished(res: NodeResponse, done: () => void): void {
  if (res.writableFinished || res.destroyed) {
    done();
    return;
  }
  const once = (): void => {
    res.off('finish', once);
    res.off('close', once);
    done();
  };
  res.on('finish', once);
  res.on('close', once);
}
