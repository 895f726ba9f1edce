/** The services one Thoth process can run (THOTH_SERVICES), and which of them a list names. No imports: scripts read it. */

export const CONSUMER_SERVICES = ['audit-writer', 'approval-notifier', 'siem-export', 'baselines'] as const;
export type ConsumerName = (typeof CONSUMER_SERVICES)[number];

export const SERVICES = ['api', ...CONSUMER_SERVICES] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The services a THOTH_SERVICES list names (`all`: every one); an unknown name is an error. */
export function wantedServices(names: readonly string[]): Set<ServiceName> {
  const wanted = new Set<ServiceName>(names.includes('all') ? SERVICES : (names as ServiceName[]));
  for (const name of wanted)
    if (!SERVICES.includes(name))
      throw new Error(`THOTH_SERVICES: unknown service "${name}" (known: all, ${SERVICES.join(', ')})`);
  return wanted;
}
