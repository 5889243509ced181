import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { describe, expect, it } from 'vitest';
import { ATTR } from '../../../src/tracing/relaySpans.ts';

describe('relay span attribute names', () => {
  it('are the semantic-conventions package names (spelled locally so the relay never loads the package)', () => {
    expect({
      messagingSystem: ATTR.messagingSystem,
      messagingSystemName: ATTR.messagingSystemName,
      messagingOperationType: ATTR.messagingOperationType,
      messagingOperationName: ATTR.messagingOperationName,
      messagingDestinationName: ATTR.messagingDestinationName,
      messagingMessageId: ATTR.messagingMessageId,
      messagingBatchMessageCount: ATTR.messagingBatchMessageCount,
      dbSystem: ATTR.dbSystem,
      dbSystemName: ATTR.dbSystemName,
      dbNamespace: ATTR.dbNamespace,
      dbCollectionName: ATTR.dbCollectionName,
      dbOperationName: ATTR.dbOperationName,
      errorType: ATTR.errorType,
    }).toEqual({
      messagingSystem: incubating.ATTR_MESSAGING_SYSTEM,
      messagingSystemName: incubating.ATTR_MESSAGING_SYSTEM_NAME,
      messagingOperationType: incubating.ATTR_MESSAGING_OPERATION_TYPE,
      messagingOperationName: incubating.ATTR_MESSAGING_OPERATION_NAME,
      messagingDestinationName: incubating.ATTR_MESSAGING_DESTINATION_NAME,
      messagingMessageId: incubating.ATTR_MESSAGING_MESSAGE_ID,
      messagingBatchMessageCount: incubating.ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
      dbSystem: incubating.ATTR_DB_SYSTEM,
      dbSystemName: incubating.ATTR_DB_SYSTEM_NAME,
      dbNamespace: incubating.ATTR_DB_NAMESPACE,
      dbCollectionName: incubating.ATTR_DB_COLLECTION_NAME,
      dbOperationName: incubating.ATTR_DB_OPERATION_NAME,
      errorType: incubating.ATTR_ERROR_TYPE,
    });
    expect(incubating.MESSAGING_OPERATION_TYPE_VALUE_PROCESS).toBe('process');
    expect(incubating.DB_SYSTEM_NAME_VALUE_MONGODB).toBe('mongodb');
  });
});
