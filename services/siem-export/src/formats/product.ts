/** Who produced the events, as every SIEM format names it. */
export const PRODUCT = { vendor: 'Thoth', name: 'Thoth', version: '0.1.0' } as const;
