import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toSiemEvent } from '../siem-event.ts';
import { formatOcsf } from './ocsf.ts';
import { SAMPLE_RECORDS } from './sample-records.ts';

/** Required attributes per class, vendored from the OCSF schema (its `source` names the files). */
const required = JSON.parse(
  readFileSync(new URL('../../test-fixtures/ocsf-required-attributes.json', import.meta.url), 'utf8'),
) as {
  base_event: string[];
  classes: Record<string, { extends: string[]; required: string[]; profiles: string[] }>;
  categories: Record<string, string[]>;
  profiles: Record<string, string[]>;
  objects: Record<string, { required: string[] }>;
  object_attributes: Record<string, string>;
};

function missing(object: Record<string, unknown>, attributes: string[], where: string): string[] {
  return attributes.filter((a) => object[a] === undefined || object[a] === null).map((a) => `${where}${a}`);
}

/** Every required attribute of the class, its parents and its profiles, and of the objects it carries. */
function missingRequired(event: Record<string, unknown>): string[] {
  const cls = required.classes[String(event.class_uid)];
  if (!cls) return [`class_uid ${String(event.class_uid)} is not a class we produce`];
  const out = missing(
    event,
    [...required.base_event, ...cls.extends.flatMap((p) => required.categories[p] ?? []), ...cls.required],
    '',
  );
  for (const profile of (event.metadata as { profiles?: string[] }).profiles ?? [])
    out.push(
      ...missing(event, required.profiles[profile] ?? [`(unknown profile ${profile})`], `${profile}:`),
    );
  for (const [path, objectName] of Object.entries(required.object_attributes)) {
    const value = path
      .split('.')
      .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], event);
    if (value === undefined) continue;
    out.push(
      ...missing(value as Record<string, unknown>, required.objects[objectName]!.required, `${path}.`),
    );
  }
  return out;
}

describe('OCSF 1.x objects carry their class’s required attributes', () => {
  for (const [name, record] of Object.entries(SAMPLE_RECORDS))
    it(name, () => {
      const event = toSiemEvent(record);
      if ('unsupported' in event) throw new Error(event.unsupported);
      const ocsf = formatOcsf(event);
      expect(missingRequired(ocsf)).toEqual([]);
      expect(ocsf.type_uid).toBe((ocsf.class_uid as number) * 100 + (ocsf.activity_id as number));
      expect(ocsf.category_uid).toBe(Math.floor((ocsf.class_uid as number) / 1000));
    });

  it('maps tool calls to API Activity with the security-control disposition, findings to Detection Finding', () => {
    const of = (name: string) => {
      const e = toSiemEvent(SAMPLE_RECORDS[name]!);
      if ('unsupported' in e) throw new Error(e.unsupported);
      return formatOcsf(e);
    };
    expect(of('decision-allow')).toMatchObject({
      class_uid: 6003,
      disposition_id: 1,
      disposition: 'Allowed',
    });
    expect(of('decision-block')).toMatchObject({
      class_uid: 6003,
      disposition_id: 2,
      disposition: 'Blocked',
      action_id: 2,
    });
    expect(of('decision-step-up')).toMatchObject({
      class_uid: 6003,
      disposition_id: 23,
      disposition: 'Challenge',
    });
    expect(of('finding-rate-spike')).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      finding_info: { uid: '01JHFINDING0000000000000001' },
    });
  });

  it('the check itself notices a missing attribute', () => {
    const e = toSiemEvent(SAMPLE_RECORDS['decision-block']!);
    if ('unsupported' in e) throw new Error(e.unsupported);
    const broken = { ...formatOcsf(e), api: {}, severity_id: undefined };
    expect(missingRequired(broken)).toEqual(['severity_id', 'api.operation']);
  });
});
