import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where `npm run build -w console` writes the console (the repository's `console/dist`). */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL('../../../../console/dist', import.meta.url));

export interface ConsoleAsset {
  body: Buffer;
  gzip: Buffer | undefined;
  contentType: string;
  etag: string;
  /** Vite names built assets by content hash: they never change, so browsers may keep them. */
  immutable: boolean;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/**
 * The built console, read once into memory (a few hundred KB), each text file also gzipped once: serving it
 * then costs no disk read and no compression per request. Keys are URL paths relative to /console/.
 * Undefined when the console was not built.
 */
export function loadConsoleAssets(dir: string): Map<string, ConsoleAsset> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const assets = new Map<string, ConsoleAsset>();
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const type = CONTENT_TYPES[extname(name)];
      if (!type) continue; // only the kinds a build emits; anything else is not ours to serve
      const body = readFileSync(path);
      const compressible = !type.startsWith('image/png') && !type.startsWith('font/');
      const url = relative(dir, path).split(sep).join('/');
      assets.set(url, {
        body,
        gzip: compressible && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined,
        contentType: type,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
        immutable: url.startsWith('assets/'),
      });
    }
  };
  walk(dir);
  return assets;
}

/**
 * The console's Content-Security-Policy: scripts and styles only from this origin (no inline script, no eval),
 * data only from this origin's API, never framed. `blob:` images let charts export; nothing else is external.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
