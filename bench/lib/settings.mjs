// Bench settings come from a flag (--name=value or --name value) or, failing
// that, an environment variable, so that both `npm run bench -- --mb=64`
// and `BENCH_MB=64 npm run bench` work.

/** An error the user fixes by changing the setup, not a bug: run.mjs prints just its message. */
export function setupError(message) {
  return Object.assign(new Error(message), { code: 'E_BENCH_SETUP' });
}

function flagValue(flag, argv) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${flag}`) return argv[i + 1];
    if (argv[i].startsWith(`--${flag}=`)) return argv[i].slice(flag.length + 3);
  }
  return undefined;
}

/** The raw text of a setting, or undefined when neither the flag nor the variable is given. */
export function readSetting({ flag, env }, argv = process.argv.slice(2)) {
  return flagValue(flag, argv) ?? process.env[env];
}

export function positiveInteger(name, text, max = Number.MAX_SAFE_INTEGER) {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw setupError(`${name} must be an integer from 1 to ${max}; got ${text}`);
  }
  return value;
}
