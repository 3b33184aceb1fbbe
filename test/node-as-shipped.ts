// How the tests start Node for the service's own code: as the image does.

/**
 * The command line (command first) that starts Node with `args` through
 * env(1), with NODE_OPTIONS as the test gave it (or none). tap's process
 * tracking (@tapjs/processinfo) adds its loader to the NODE_OPTIONS of
 * every process a test starts, whatever environment the test passes, and:
 *  - the loader costs each start about 1.1 s of CPU (0.27 s without it for
 *    `node dist/cli.js --help`), which the CLI tests paid for every run;
 *  - it turns source maps on: the service's first logged error then parsed
 *    dist/cli.js.map (1.8 MB) for its stack and held the event loop
 *    0.27-0.37 s, up to a second with both cores busy, which the image (no
 *    loader, no maps) never does. A cut stream's 503 at shutdown came that
 *    late (hostile-clients' SIGTERM test).
 */
export function nodeAsShipped(args: string[], nodeOptions?: string): [string, ...string[]] {
  return ['/usr/bin/env', ...(nodeOptions === undefined ? ['-u', 'NODE_OPTIONS'] : [`NODE_OPTIONS=${nodeOptions}`]), process.execPath, ...args];
}
