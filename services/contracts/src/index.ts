// The package's one entry: every module below is part of its public surface.
export * from './approval-view.ts';
export * from './canonical-json.ts';
export * from './decision-receipt.ts';
export * from './evidence-chain.ts';
export * from './ids.ts';
export * from './merkle-tree.ts';
export * from './records.ts';
export * from './stored-record.ts';
export * from './tool-args.ts';
export * from './topics.ts';
export * from './webhook-signature.ts';
