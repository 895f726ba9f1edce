import { describe, expect, it } from 'vitest';
import {
  type AgentSummary,
  agentListPath,
  agentRows,
  agentsByEscalation,
} from '../console/src/lib/agents-model.ts';

const agent = (agent_id: string, patch: Partial<AgentSummary> = {}): AgentSummary => ({
  agent_id,
  baseline_state: 'active',
  calls: 100,
  escalation_level: null,
  escalation_score: null,
  last_seen_at: null,
  findings_24h: 0,
  last_finding_at: null,
  ...patch,
});
const at = (iso: string) => Date.parse(iso);

describe('console agents model', () => {
  it('names the agent of an agent-scoped session in the list path', () => {
    expect(agentListPath('acme corp', null)).toBe('/acme%20corp/thoth/agents');
    expect(agentListPath('acme', 'a/b')).toBe('/acme/thoth/agents?agent_id=a%2Fb');
  });

  it('lists agents with a baseline and agents seen without one, most recently seen first', () => {
    const rows = agentRows(
      [
        agent('old', { last_seen_at: '2026-01-01T10:00:00.000Z', findings_24h: 3 }),
        agent('fresh', {
          baseline_state: 'learning',
          last_seen_at: '2026-01-01T11:00:00.000Z',
          escalation_level: 'step_up',
          escalation_score: 55,
        }),
      ],
      new Map([
        ['old', at('2026-01-01T12:00:00.000Z')], // the trail saw it after its baseline was saved
        ['no-baseline', at('2026-01-01T11:30:00.000Z')],
        ['_admin', at('2026-01-01T12:30:00.000Z')], // the admin evidence chain is no agent
      ]),
    );
    expect(rows).toEqual([
      {
        agentId: 'old',
        baselineState: 'active',
        escalationLevel: null,
        escalationScore: null,
        lastSeen: at('2026-01-01T12:00:00.000Z'),
        findings24h: 3,
      },
      {
        agentId: 'no-baseline',
        baselineState: null,
        escalationLevel: null,
        escalationScore: null,
        lastSeen: at('2026-01-01T11:30:00.000Z'),
        findings24h: 0,
      },
      {
        agentId: 'fresh',
        baselineState: 'learning',
        escalationLevel: 'step_up',
        escalationScore: 55,
        lastSeen: at('2026-01-01T11:00:00.000Z'),
        findings24h: 0,
      },
    ]);
    expect(agentRows([agent('never')], new Map())[0]?.lastSeen).toBeNull();
  });

  it('groups agents by current escalation, strongest level and score first, empty levels left out', () => {
    const groups = agentsByEscalation([
      agent('w', { escalation_level: 'warn', escalation_score: 20 }),
      agent('calm'),
      agent('b', { escalation_level: 'block', escalation_score: 90 }),
      agent('s1', { escalation_level: 'step_up', escalation_score: 50 }),
      agent('s2', { escalation_level: 'step_up', escalation_score: 70 }),
    ]);
    expect(groups.map((g) => [g.level, g.agents.map((a) => a.agent_id)])).toEqual([
      ['block', ['b']],
      ['step_up', ['s2', 's1']],
      ['warn', ['w']],
      ['none', ['calm']],
    ]);
    expect(agentsByEscalation([])).toEqual([]);
  });
});
