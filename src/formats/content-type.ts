// Splits a Content-Type header into its media type and parameters
// (RFC 9110 §8.3.1): case-insensitive names, optional whitespace around the
// semicolons, and values that may be quoted strings with backslash escapes.
// It is lenient on purpose: judging the values is up to whoever reads them,
// so that the client hears "rate=abc is not a whole number" rather than
// "cannot parse Content-Type".

export interface MediaType {
  /** "type/subtype", lower-cased. */
  essence: string;
  /** Every parameter in the order sent: names lower-cased, values unquoted, as sent otherwise. */
  parameters: [name: string, value: string][];
}

export function parseContentType(header: string): MediaType {
  const segments = splitOutsideQuotes(header);
  const essence = (segments.shift() ?? '').trim().toLowerCase();
  const parameters: [string, string][] = [];
  for (const segment of segments) {
    const equals = segment.indexOf('=');
    const name = (equals === -1 ? segment : segment.slice(0, equals)).trim().toLowerCase();
    if (name === '') continue;
    const value = equals === -1 ? '' : unquote(segment.slice(equals + 1).trim());
    parameters.push([name, value]);
  }
  return { essence, parameters };
}

/** Splits at each ";" that is not inside a quoted string. */
function splitOutsideQuotes(header: string): string[] {
  const segments: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) {
      segments.push(header.slice(start, i));
      start = i + 1;
    }
  }
  segments.push(header.slice(start));
  return segments;
}

/** `"a\"b"` → `a"b`; an unquoted value is returned as it is. */
function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  let text = '';
  for (let i = 1; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) text += value[++i];
    else if (c === '"') return text + value.slice(i + 1);
    else text += c;
  }
  return text;
}
