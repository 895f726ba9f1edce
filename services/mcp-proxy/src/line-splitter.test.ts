import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.ts';

const texts = (items: ReturnType<LineSplitter['push']>) =>
  items.map((item) => (item.kind === 'line' ? item.bytes.toString() : `<${item.bytes} dropped>`));

describe('LineSplitter', () => {
  it('splits on newlines across chunks, keeping bytes (a \\r included) as received', () => {
    const splitter = new LineSplitter();
    expect(texts(splitter.push(Buffer.from('{"a":1}\n{"b"')))).toEqual(['{"a":1}']);
    expect(texts(splitter.push(Buffer.from(':2}\r\n\n')))).toEqual(['{"b":2}\r', '']);
    expect(texts(splitter.push(Buffer.from('tail')))).toEqual([]);
    expect(texts(splitter.end())).toEqual(['tail']);
  });

  it('drops an oversized line up to its newline and carries on', () => {
    const splitter = new LineSplitter(8);
    expect(texts(splitter.push(Buffer.from('0123456789')))).toEqual([]);
    expect(texts(splitter.push(Buffer.from('abc\nok\n')))).toEqual(['<13 dropped>', 'ok']);
    expect(texts(splitter.push(Buffer.from('0123456789\n')))).toEqual(['<10 dropped>']);
  });
});
