import { describe, expect, it } from 'vitest';
import { idKey, invalidRequestAnswer, parseErrorAnswer, readJsonRpc } from './json-rpc.ts';

describe('readJsonRpc', () => {
  it('classifies requests, notifications and responses', () => {
    expect(readJsonRpc('{"jsonrpc":"2.0","id":1,"method":"ping"}')).toMatchObject({
      kind: 'single',
      item: { kind: 'request' },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","method":"notifications/initialized"}')).toMatchObject({
      kind: 'single',
      item: { kind: 'notification' },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","id":"a","result":{}}')).toMatchObject({
      kind: 'single',
      item: { kind: 'response' },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}')).toMatchObject({
      kind: 'single',
      item: { kind: 'response' },
    });
  });

  it('tells unparseable text from JSON that is not a message, keeping a usable id', () => {
    expect(readJsonRpc('{"jsonrpc":')).toMatchObject({ kind: 'unparseable' });
    expect(readJsonRpc('42')).toMatchObject({ kind: 'single', item: { kind: 'invalid', id: null } });
    expect(readJsonRpc('{"jsonrpc":"1.0","id":3,"method":"ping"}')).toMatchObject({
      item: { kind: 'invalid', id: 3 },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","id":null,"method":"ping"}')).toMatchObject({
      item: { kind: 'invalid', id: null },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","id":4,"result":1,"error":{}}')).toMatchObject({
      item: { kind: 'invalid', id: 4 },
    });
    expect(readJsonRpc('{"jsonrpc":"2.0","method":7}')).toMatchObject({ item: { kind: 'invalid' } });
    expect(readJsonRpc('[]')).toMatchObject({
      kind: 'single',
      item: { kind: 'invalid', why: 'empty batch' },
    });
  });

  it('reads a batch element by element', () => {
    const read = readJsonRpc('[{"jsonrpc":"2.0","id":1,"method":"ping"},5]');
    expect(read.kind === 'batch' && read.items.map((item) => item.kind)).toEqual(['request', 'invalid']);
  });

  it("answers with JSON-RPC's error codes", () => {
    expect(parseErrorAnswer()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'Parse error' },
    });
    expect(invalidRequestAnswer({ id: 'x', why: 'no' })).toEqual({
      jsonrpc: '2.0',
      id: 'x',
      error: { code: -32600, message: 'Invalid Request: no' },
    });
  });

  it('keeps numeric and string ids apart', () => {
    expect(idKey(1)).not.toBe(idKey('1'));
  });
});
