/** What the CLI needs of a Thoth API: JSON over HTTP, with the admin token or an API key. */
export class ThothHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const b = body as { error?: unknown; message?: unknown } | null;
    super(
      typeof b?.message === 'string' ? `${status} ${String(b.error ?? '')}: ${b.message}` : `HTTP ${status}`,
    );
  }
}

export interface ClientOptions {
  url: string;
  adminToken?: string;
  apiKey?: string;
  /** A person's session from `thoth login` (the console's session cookie and CSRF token): used without a key. */
  session?: { token: string; csrf: string };
}

export class ThothClient {
  constructor(private readonly options: ClientOptions) {}

  /** The credential a call sends: the admin token when it needs one or is the only one given. */
  private credential(prefer: 'admin' | 'key'): string | undefined {
    return prefer === 'admin'
      ? (this.options.adminToken ?? this.options.apiKey)
      : (this.options.apiKey ?? this.options.adminToken);
  }

  async call(
    method: string,
    path: string,
    options: { body?: unknown; prefer?: 'admin' | 'key' } = {},
  ): Promise<unknown> {
    const response = await this.fetch(method, path, options);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {}
    if (!response.ok) throw new ThothHttpError(response.status, body);
    return body;
  }

  fetch(
    method: string,
    path: string,
    options: { body?: unknown; prefer?: 'admin' | 'key'; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    const credential = this.credential(options.prefer ?? 'admin');
    if (credential) headers.authorization = `Bearer ${credential}`;
    else if (this.options.session) {
      // Signed in as a person: the API sees that person (role, approvals), as the console does.
      headers.cookie = `thoth_console=${this.options.session.token}`;
      headers['x-csrf-token'] = this.options.session.csrf;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return fetch(new URL(path, this.options.url), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  }
}
