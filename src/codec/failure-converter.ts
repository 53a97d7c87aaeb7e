/**
 * Loaded by path in the workflow sandbox and in clients (Temporal's `failureConverterPath`), so it
 * imports nothing but the SDK. Failure messages and stack traces can quote user input, so they go
 * into an encoded payload, which the payload codec encrypts, instead of the clear-text fields.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
