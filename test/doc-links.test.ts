import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The documentation stays inside the repository: every relative link of the README, the SDK READMEs and
 * docs/ resolves to a file of the checkout (and a `#anchor` to a heading of it), and nothing points at the
 * old out-of-tree contract any more (the wire protocol is docs/protocol.md). Reads files only: no broker.
 */

const ROOT = resolve(import.meta.dirname, '..');

/** Files of the checkout: tracked ones, plus new ones not ignored (a doc added but not committed yet). */
function repoFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    maxBuffer: 64 * 1024 * 1024,
  }).toString('utf8');
  const files = new Set(out.split('\0').filter((f) => f !== ''));
  // A tracked file deleted in the work tree is gone for readers too.
  return [...files].filter((f) => existsSync(join(ROOT, f))).sort();
}

/** README.md, every README under sdk/, every markdown file under docs/. */
function isCheckedDoc(file: string): boolean {
  if (file === 'README.md') return true;
  if (file.startsWith('sdk/') && /(^|\/)README\.md$/i.test(file)) return true;
  return file.startsWith('docs/') && file.endsWith('.md');
}

// ── Markdown reading (just enough of CommonMark for links and headings) ─────────────────────────────────────

const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/** The text with fenced code blocks blanked out (line count kept, so offsets still give line numbers). */
function blankFencedCode(text: string): string {
  const lines = text.split('\n');
  let open: string | undefined;
  return lines
    .map((line) => {
      const fence = FENCE.exec(line)?.[1];
      if (open === undefined) {
        if (fence) {
          open = fence;
          return '';
        }
        return line;
      }
      // A closing fence: the same character, at least as long, nothing after it.
      if (fence && fence[0] === open[0] && fence.length >= open.length && line.trim() === fence)
        open = undefined;
      return '';
    })
    .join('\n');
}

/** Inline code spans and HTML comments blanked out (same length, so offsets keep their lines). */
function blankInlineCode(text: string): string {
  const blank = (s: string) => s.replace(/[^\n]/g, ' ');
  return text.replace(/<!--[\s\S]*?-->/g, blank).replace(/(`+)(?!`)[^\n]*?(?<!`)\1(?!`)/g, blank);
}

/** GitHub's heading anchor: lowercase, punctuation dropped (hyphens and underscores kept), spaces → hyphens. */
function githubSlug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The text a heading renders to: code spans keep their content, links their text, HTML tags vanish. */
function renderedHeading(source: string): string {
  return source
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .trim();
}

/** Every anchor a markdown file offers: heading slugs (duplicates numbered -1, -2, …) and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const lines = blankFencedCode(markdown).split('\n');
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const addHeading = (text: string) => {
    const base = githubSlug(renderedHeading(text));
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  };
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      addHeading(atx[1] ?? '');
      return;
    }
    // Setext: a paragraph line underlined with === or ---.
    const next = lines[i + 1];
    if (
      next !== undefined &&
      /^ {0,3}(=+|-+)[ \t]*$/.test(next) &&
      line.trim() !== '' &&
      !/^\s*[|>-]/.test(line)
    )
      addHeading(line.trim());
  });
  for (const match of markdown.matchAll(/<[a-z][^>]*\s(?:id|name)\s*=\s*["']([^"']+)["']/gi))
    anchors.add(match[1]!);
  return anchors;
}

interface DocLink {
  target: string;
  line: number;
}

/** Link and image destinations outside code: `[x](dest)`, `![x](dest)`, `[x]: dest`, `<img src>`, `<a href>`. */
function linksOf(markdown: string): DocLink[] {
  const text = blankInlineCode(blankFencedCode(markdown));
  const lineAt = (offset: number) => text.slice(0, offset).split('\n').length;
  const links: DocLink[] = [];
  const add = (raw: string, offset: number) => {
    const target = raw.startsWith('<') && raw.endsWith('>') ? raw.slice(1, -1) : raw;
    links.push({ target: target.trim(), line: lineAt(offset) });
  };
  const inline =
    /\]\(\s*(<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))+)(?:\s+(?:"[^"\n]*"|'[^'\n]*'|\([^)\n]*\)))?\s*\)/g;
  for (const m of text.matchAll(inline)) add(m[1]!, m.index);
  for (const m of text.matchAll(/^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm)) add(m[1]!, m.index);
  for (const m of text.matchAll(/<(?:img|a|source)\b[^>]*?\s(?:src|href)\s*=\s*(["'])(.*?)\1/gi))
    add(m[2]!, m.index);
  return links;
}

/** Why `link` of `file` (repo-relative) does not resolve, or undefined when it does (or is not ours to check). */
function linkProblem(
  file: string,
  target: string,
  root: string,
  anchorsFor: (absolutePath: string) => Set<string>,
): string | undefined {
  if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) return undefined;
  const hash = target.indexOf('#');
  const pathPart = (hash === -1 ? target : target.slice(0, hash)).split('?')[0]!;
  const anchor = hash === -1 ? undefined : target.slice(hash + 1);
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathPart);
  } catch {
    return 'the path is not valid percent-encoding';
  }
  // GitHub reads a leading `/` as the repository root.
  const absolute =
    decoded === ''
      ? join(root, file)
      : decoded.startsWith('/')
        ? join(root, decoded)
        : resolve(root, dirname(file), decoded);
  const inRepo = relative(root, absolute);
  if (inRepo.startsWith('..') || isAbsolute(inRepo)) return 'points outside the repository';
  if (!existsSync(absolute)) return 'no such file';
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(absolute).isDirectory() || extname(absolute).toLowerCase() !== '.md') return undefined;
  let wanted: string;
  try {
    wanted = decodeURIComponent(anchor).toLowerCase();
  } catch {
    return 'the anchor is not valid percent-encoding';
  }
  return anchorsFor(absolute).has(wanted)
    ? undefined
    : `no heading #${anchor} in ${relative(root, absolute)}`;
}

/** Every broken relative link of the given docs, as `file:line: target — why`. */
function brokenLinks(root: string, docs: readonly string[]): string[] {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsFor = (path: string) => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = anchorsOf(readFileSync(path, 'utf8'));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  const problems: string[] = [];
  for (const doc of docs) {
    for (const link of linksOf(readFileSync(join(root, doc), 'utf8'))) {
      const problem = linkProblem(doc, link.target, root, anchorsFor);
      if (problem) problems.push(`${doc}:${link.line}: ${link.target} — ${problem}`);
    }
  }
  return problems;
}

// ── References to the old out-of-tree documents ─────────────────────────────────────────────────────────────

// Built from parts, so this file does not match its own search.
const SHARED_DIR = `..${'/'}shared/`;
const OUT_OF_TREE_NAMES = ['PROTOCOL', 'ARCHITECTURE', 'CONVENTIONS'].map((name) => `${name}${'.'}md`);

/** `file:line: needle` for every reference to a document outside the repository. */
function outOfTreeReferences(root: string, files: readonly string[]): string[] {
  const names = new Set(files.map((f) => f.split('/').pop()));
  // A name counts only while the repository has no file of that name to refer to.
  const needles = [SHARED_DIR, ...OUT_OF_TREE_NAMES.filter((name) => !names.has(name))];
  const hits: string[] = [];
  for (const file of files) {
    const bytes = readFileSync(join(root, file));
    if (bytes.subarray(0, 8_000).includes(0)) continue; // binary
    const lines = bytes.toString('utf8').split('\n');
    lines.forEach((line, i) => {
      for (const needle of needles) if (line.includes(needle)) hits.push(`${file}:${i + 1}: ${needle}`);
    });
  }
  return hits;
}

describe('documentation links', () => {
  const files = repoFiles();
  const docs = files.filter(isCheckedDoc);

  it('checks the README, the SDK READMEs and docs/', () => {
    expect(docs).toContain('README.md');
    expect(docs).toContain('docs/protocol.md');
    expect(docs.some((d) => d.startsWith('sdk/'))).toBe(true);
  });

  it('every relative link and image resolves to a file of the repository, and every #anchor to a heading', () => {
    expect(brokenLinks(ROOT, docs)).toEqual([]);
  });

  it('no file refers to the out-of-tree protocol, architecture or conventions documents', () => {
    const hits = outOfTreeReferences(ROOT, files);
    expect(hits).toEqual([]);
  });
});

describe('the link checker itself', () => {
  it('slugs headings the way GitHub does', () => {
    expect([
      ...anchorsOf('# Wire protocol\n## Holds\n## Holds\n### `GET /v1/enforce/hold/{token}`\n'),
    ]).toEqual(['wire-protocol', 'holds', 'holds-1', 'get-v1enforceholdtoken']);
    expect(githubSlug('SOC and control-plane reads')).toBe('soc-and-control-plane-reads');
    expect(githubSlug('MODIFY: apply rules (v2)!')).toBe('modify-apply-rules-v2');
    expect(githubSlug('tool_args shapes')).toBe('tool_args-shapes');
  });

  it('finds links outside code and ignores links inside it', () => {
    const md = [
      'See [a](a.md), ![img](pics/x.png "title") and <img src="y.png">.',
      'Inline `[not](a-link.md)` is code.',
      '```',
      '[also not](in-a-fence.md)',
      '```',
      '[ref]: ./ref.md#top',
    ].join('\n');
    expect(linksOf(md)).toEqual([
      { target: 'a.md', line: 1 },
      { target: 'pics/x.png', line: 1 },
      { target: './ref.md#top', line: 6 },
      { target: 'y.png', line: 1 },
    ]);
  });

  it('reports a missing file, a missing anchor and a path outside the repository', () => {
    const none = () => new Set<string>();
    const anchors = () => new Set(['holds']);
    expect(linkProblem('docs/x.md', 'nope.md', ROOT, none)).toBe('no such file');
    expect(linkProblem('docs/x.md', 'protocol.md#holds', ROOT, anchors)).toBeUndefined();
    expect(linkProblem('docs/x.md', 'protocol.md#nope', ROOT, anchors)).toMatch(/no heading #nope/);
    expect(linkProblem('README.md', '../elsewhere/file.md', ROOT, none)).toBe(
      'points outside the repository',
    );
    expect(linkProblem('README.md', 'https://example.com/x.md#y', ROOT, none)).toBeUndefined();
  });
});
