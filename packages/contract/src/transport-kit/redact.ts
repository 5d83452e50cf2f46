/**
 * One credential policy for every transport: the user name and password of a URL never appear in an
 * error or a log line. They are removed, not masked, so that a redacted URL still parses.
 */

/** `redis://app:s3cret@cache:6380/2` → `redis://cache:6380/2`; a URL that does not parse → `<invalid url>`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '<invalid url>'; // the parser's message would quote the input
  }
}

/** Removes the `user:password@` part of every URL inside a text an underlying library produced. */
export function redactText(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, '$1');
}
