// Types of .ci/doc-snippets.mjs, for test/packaging/readme-snippets.test.ts.
export interface Snippet {
  /** `README.md` or `docs/<page>.md`. */
  page: string;
  /** 1-based position among the page's ts blocks. */
  index: number;
  /** The module name it is written under: `<page stem>-<index>`. */
  name: string;
  code: string;
}
export function documentationPages(): string[];
export function extractSnippets(): Snippet[];
