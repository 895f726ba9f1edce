import { describe, expect, it } from 'vitest';
import { SseRewriter, sseEvent } from './sse-rewriter.ts';

describe('SseRewriter', () => {
  it('passes kept events byte for byte, ids and comments included, across chunk boundaries', () => {
    const rewriter = new SseRewriter(() => undefined);
    const stream = ': hello\n\nid: 7\nevent: message\ndata: {"a":1}\n\nid: 8\ndata:\n\n';
    const out =
      [...Buffer.from(stream)].map((byte) => rewriter.push(Buffer.from([byte]))).join('') + rewriter.end();
    expect(out).toBe(stream);
  });

  it('replaces the data of a rewritten event and keeps its other fields', () => {
    const rewriter = new SseRewriter((data) => (data === 'old' ? 'new' : undefined));
    expect(rewriter.push(Buffer.from('id: 1\r\nevent: message\r\ndata: old\r\n\r\n'))).toBe(
      'id: 1\r\nevent: message\r\ndata: new\n\r\n',
    );
  });

  it('joins multi-line data and drops an event when told to', () => {
    const seen: string[] = [];
    const rewriter = new SseRewriter((data) => {
      seen.push(data);
      return null;
    });
    expect(rewriter.push(Buffer.from('data: a\ndata: b\n\n'))).toBe('');
    expect(seen).toEqual(['a\nb']);
  });

  it('frames a message as the SDK servers do', () => {
    expect(sseEvent('{}')).toBe('event: message\ndata: {}\n\n');
  });
});
