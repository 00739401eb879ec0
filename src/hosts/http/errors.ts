import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ThumbnailerError, asThumbnailerError, errorBody, type ErrorCode } from '../../errors.js';

/**
 * Rethrows an E_OPTION_INVALID/E_MESSAGE_INVALID/E_URL_REFUSED as the API's 400, naming the field
 * the error carries (or `field` when it carries none).
 */
export function asFieldError(error: unknown, field?: string): never {
  if (
    ThumbnailerError.is(error) &&
    ['E_OPTION_INVALID', 'E_MESSAGE_INVALID', 'E_URL_REFUSED'].includes(error.code)
  ) {
    throw new ThumbnailerError('E_OPTION_INVALID', error.message, {
      cause: error,
      field: error.field ?? field,
    });
  }
  throw error;
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string; allowedValues?: unknown[] };
}

/** `querystring/time`, `body/options.rows`: where a schema validation failed. */
function validationField(error: FastifyError): { field: string; message: string } {
  const issue = (error.validation?.[0] ?? {}) as AjvIssue;
  const path = (issue.instancePath ?? '').split('/').filter(Boolean);
  if (issue.params?.missingProperty) path.push(issue.params.missingProperty);
  // An empty key (`{"": 1}`) is a field too: name it, not the whole body.
  const unknown = issue.params?.additionalProperty;
  if (unknown !== undefined) path.push(unknown);
  const field = path.length > 0 ? path.join('.') : (error.validationContext ?? 'request');
  let detail = issue.message ?? 'is invalid';
  if (unknown !== undefined) detail = 'is not a known field';
  else if (issue.params?.missingProperty) detail = 'is required';
  else if (issue.params?.allowedValues) detail = `must be one of ${issue.params.allowedValues.join(', ')}`;
  return {
    field,
    message: `Invalid ${error.validationContext ?? 'request'} field ${field || '""'}: ${detail}`,
  };
}

/** Fastify's own 4xx errors (bad JSON, media type, body too large) as product codes. */
function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'E_NOT_FOUND';
  if (status === 413) return 'E_LIMIT_EXCEEDED';
  if (status === 401) return 'E_UNAUTHORIZED';
  if (status >= 500) return 'E_INTERNAL';
  return 'E_OPTION_INVALID';
}

/**
 * Every error leaves as `{ error: { code, message, field? } }` with its status; 5xx say what
 * failed without internals (the log has them).
 */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.validation) {
    const { field, message } = validationField(error);
    void reply.status(400).send(errorBody(new ThumbnailerError('E_OPTION_INVALID', message, { field })));
    return;
  }
  let e: ThumbnailerError;
  let status: number;
  if (ThumbnailerError.is(error)) {
    e = error;
    status = error.status;
  } else if (typeof error.statusCode === 'number' && error.statusCode < 500) {
    status = error.statusCode;
    e = new ThumbnailerError(codeForStatus(status), error.message);
  } else {
    e = asThumbnailerError(error);
    status = e.status;
  }
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  void reply.status(status).send(errorBody(e, status));
}
