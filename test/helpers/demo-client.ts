// Request options for talking to the demo panel (directly or through the gateway) in tests.
export interface PanelRequestOpts {
  cookie?: string;
  bearer?: string;
  form?: Record<string, string>;
  json?: unknown;
}

/** Headers and body for a demo panel request: session cookie, bearer token, form or JSON body. */
export function panelRequestInit(o: PanelRequestOpts, headers: Record<string, string> = {}, body?: string): { headers: Record<string, string>; body: string | undefined } {
  if (o.cookie) headers.cookie = `panel_sid=${o.cookie}`;
  if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
  if (o.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(o.form).toString();
  }
  if (o.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(o.json);
  }
  return { headers, body };
}
