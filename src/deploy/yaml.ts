import { ThumbnailerError } from '../errors.js';
import { stringify } from 'yaml';

/** Anything with the models' `toJSON()`: a typed Kubernetes object or a plain document. */
export interface Printable {
  toJSON(): unknown;
}

export interface ToYamlOptions {
  /** Lines printed as `#` comments before the first document. */
  header?: readonly string[];
}

/**
 * Multi-document YAML, one document per object, in order. Refuses to print a Secret that carries
 * data: printed manifests end up in terminals, CI logs and git, so keys never go there.
 */
export function toYaml(documents: readonly Printable[], options: ToYamlOptions = {}): string {
  const header = (options.header ?? []).map((line) => (line ? `# ${line}` : '#')).join('\n');
  const body = documents
    .map((document) => {
      const json = document.toJSON() as { kind?: string; data?: unknown; stringData?: unknown };
      if (json.kind === 'Secret' && (json.data !== undefined || json.stringData !== undefined)) {
        throw new ThumbnailerError(
          'E_INTERNAL',
          'refusing to print a Secret with data: secret values are never printed',
        );
      }
      return stringify(json, { lineWidth: 0, singleQuote: true });
    })
    .join('---\n');
  return header ? `${header}\n${body}` : body;
}
