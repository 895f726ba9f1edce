import { describe, expect, it } from 'vitest';
import { classifyAction } from './action-classification.ts';

describe('classifyAction', () => {
  it.each([
    ['search_web', 'read'],
    ['getWeather', 'read'],
    ['read:data', 'read'],
    ['db.query', 'read'],
    ['send_email', 'write'],
    ['createInvoice', 'write'],
    ['pay', 'write'],
    ['transfer-funds', 'write'],
    ['delete_user', 'delete'],
    ['dropTable', 'delete'],
    ['run_shell', 'execute'],
    ['python_exec', 'execute'],
    ['HTTPRequest', 'network'],
    ['download_file', 'network'],
    ['summarize', 'unknown'],
    ['', 'unknown'],
  ])('%s → %s', (tool, expected) => {
    expect(classifyAction(tool)).toBe(expected);
  });

  it('picks the most dangerous verb when several appear', () => {
    expect(classifyAction('delete_search_index')).toBe('delete');
    expect(classifyAction('run_query')).toBe('execute');
    expect(classifyAction('get_or_create_user')).toBe('write');
  });

  it('matches whole words only', () => {
    expect(classifyAction('user_settings')).toBe('unknown');
    expect(classifyAction('postgres_stats')).toBe('unknown');
    expect(classifyAction('runtime_info')).toBe('unknown');
  });
});
