import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isListening } from './helpers.ts';

/**
 * A real rsyslog (Debian rsyslog + rsyslog-gnutls) as a SIEM's syslog receiver: a foreground rsyslogd with its
 * own configuration, listening with imtcp + the gtls driver (RFC 5425) on a loopback port, writing each
 * message's MSG part as one line of `out.log`. The test CA and server certificate are made with openssl.
 */
export interface TestCa {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** A CA and a server certificate for 127.0.0.1 / localhost, signed by it. */
export function makeTestCa(dir: string): TestCa {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Thoth Test CA',
    '-keyout',
    f('ca-key.pem'),
    '-out',
    f('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    f('server-key.pem'),
    '-out',
    f('server.csr'),
  );
  writeFileSync(f('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca-key.pem'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.pem'),
  );
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server-key.pem') };
}

export class Rsyslog {
  private child: ChildProcess | undefined;
  readonly outFile: string;

  constructor(
    private readonly dir: string,
    readonly port: number,
    tls: TestCa,
    /** `template`: what each record writes (default its MSG); `maxMessageSize`: absent, rsyslog's default (8k). */
    options: { template?: string; maxMessageSize?: string } = {},
  ) {
    mkdirSync(join(dir, 'work'), { recursive: true });
    this.outFile = join(dir, 'out.log');
    const maxMessageSize = options.maxMessageSize ? `\n  maxMessageSize="${options.maxMessageSize}"` : '';
    writeFileSync(
      join(dir, 'rsyslog.conf'),
      `global(
  workDirectory="${join(dir, 'work')}"${maxMessageSize}
  defaultNetstreamDriver="gtls"
  defaultNetstreamDriverCAFile="${tls.caFile}"
  defaultNetstreamDriverCertFile="${tls.certFile}"
  defaultNetstreamDriverKeyFile="${tls.keyFile}"
)
# On SIGTERM, write out everything already read before exiting: by default the main queue gets 1.5 s to drain
# and the rest is discarded, which a slow machine can exceed (the exporter counted those events delivered).
main_queue(queue.timeoutShutdown="60000" queue.timeoutActionCompletion="60000")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="${port}")
template(name="msgOnly" type="string" string="${options.template ?? '%msg%'}\\n")
action(type="omfile" file="${this.outFile}" template="msgOnly")
`,
    );
  }

  /** Starts rsyslogd in the foreground and waits until its port accepts connections. */
  async start(): Promise<void> {
    const child = spawn(
      'rsyslogd',
      ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslogd.pid')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    this.child = child;
    const deadline = Date.now() + 15_000;
    while (!isListening(this.port)) {
      if (child.exitCode !== null) throw new Error(`rsyslogd exited (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`rsyslogd did not listen on ${this.port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM (rsyslog's orderly shutdown: what it has read is written out) and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    this.child = undefined;
  }

  /** The lines written so far. */
  lines(): string[] {
    if (!existsSync(this.outFile)) return [];
    return readFileSync(this.outFile, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0);
  }
}
