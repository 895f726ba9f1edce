import type { SiemEvent } from '../siem-event.ts';
import { formatCef } from './cef.ts';
import { formatEcs } from './ecs.ts';
import { formatLeef } from './leef.ts';
import { formatOcsf } from './ocsf.ts';

export const FORMATS = ['cef', 'leef', 'ocsf', 'ecs'] as const;
export type FormatName = (typeof FORMATS)[number];
/** Line formats are strings (CEF, LEEF); JSON formats are objects (OCSF, ECS). */
export type Formatted = string | Record<string, unknown>;

export function formatEvent(format: FormatName, event: SiemEvent): Formatted {
  switch (format) {
    case 'cef':
      return formatCef(event);
    case 'leef':
      return formatLeef(event);
    case 'ocsf':
      return formatOcsf(event);
    case 'ecs':
      return formatEcs(event);
  }
}

/** One line of text: a syslog MSG, an NDJSON file line. */
export function asLine(formatted: Formatted): string {
  return typeof formatted === 'string' ? formatted : JSON.stringify(formatted);
}
