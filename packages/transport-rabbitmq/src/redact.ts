/** An AMQP URL with its password replaced, fit for errors and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

/** Removes `user:password@` from any URL inside a message an underlying library produced. */
export function redactText(text: string): string {
  return text.replace(/(amqps?:\/\/)[^@\s/]*@/gi, '$1***@');
}
