export { answer } from './answer';
export { extract } from './extract';
export { ingest } from './ingest';
