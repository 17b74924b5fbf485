/** `Post-purchase survey` -> `post-purchase-survey`: for file and directory names, and a flow's default name. */
export const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'pipeline';
