// The configuration checks that need alsa-lib, kept out of config.ts so that
// loading the configuration never loads the native addon. serve and doctor
// run them right after loadConfig, inside the same exit-2 handling: a
// malformed AUDIO_ALSA_CONFIG is a configuration error, found before
// anything starts, not a device that fails to open later.
import { ConfigError, type Config, type Env } from './config';
import { checkAlsaConfig } from './engine/native';

// alsa-lib's parser reports "<file>:<line>:<column>:<what>"; text handed to
// it from memory is the file "_toplevel_", or "" once a stray "}" has closed
// the top level.
const PARSER_POSITION = /([^\s:]*):(\d+):(\d+):/;
const IN_MEMORY_FILES = new Set(['_toplevel_', '']);
const SHOWN_LINE_CHARS = 60;

/** Where alsa-lib's parser stopped, in the operator's terms, with the line's text when the value has several lines. */
function parserPosition(message: string, text: string): string {
  const match = PARSER_POSITION.exec(message);
  if (!match) return '';
  const [, file, line, column] = match;
  if (!IN_MEMORY_FILES.has(file!)) return ` in the included file ${file} at line ${line}, column ${column}`;
  const lines = text.split('\n');
  const content = lines[Number(line) - 1];
  const shown = lines.length > 1 && content?.trim()
    ? ` (${JSON.stringify(content.length > SHOWN_LINE_CHARS ? `${content.slice(0, SHOWN_LINE_CHARS)}…` : content)})`
    : '';
  return ` at line ${line}${shown}, column ${column}`;
}

/** Throws a ConfigError naming AUDIO_ALSA_CONFIG when alsa-lib cannot merge its text over alsa.conf, as an open would. */
export function checkConfigAgainstAlsa(config: Config, env: Env = process.env): void {
  const text = config.audio.alsaConfig;
  if (text === undefined) return;
  const check = checkAlsaConfig(text);
  if (check.ok) return;
  // The variable as the operator set it: the inline text, or the file's path.
  const value = env.AUDIO_ALSA_CONFIG ?? text;
  const source = value === text ? 'the text' : 'the file';
  throw new ConfigError('AUDIO_ALSA_CONFIG', value, `alsa-lib cannot parse ${source}${parserPosition(check.message, text)}: ${check.message}`);
}
