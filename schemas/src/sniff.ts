/** The file types Lectern recognizes by their first bytes. */
export type SniffedType =
  | 'video/mp4'
  | 'video/quicktime'
  | 'video/webm'
  | 'application/pdf'
  | 'image/jpeg'
  | 'image/png'
  | 'image/gif'
  | 'image/webp';

/** How many first bytes {@link sniffFileType} needs. */
export const SNIFF_BYTES = 16;

const ascii = (head: Uint8Array, at: number, text: string): boolean =>
  [...text].every((c, i) => head[at + i] === c.charCodeAt(0));
const bytes = (head: Uint8Array, at: number, magic: readonly number[]): boolean =>
  magic.every((b, i) => head[at + i] === b);

/**
 * What a file is by its first bytes, whatever it was declared as; null when
 * none of the types above. An ISO media file (`ftyp` box at offset 4) is
 * QuickTime when its major brand is `qt  `, else MP4. Uploads (avatars,
 * course media, chat attachments) are checked with it at finalize.
 */
export const sniffFileType = (head: Uint8Array): SniffedType | null => {
  if (ascii(head, 4, 'ftyp')) return ascii(head, 8, 'qt  ') ? 'video/quicktime' : 'video/mp4';
  if (bytes(head, 0, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm';
  if (ascii(head, 0, '%PDF-')) return 'application/pdf';
  if (bytes(head, 0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (bytes(head, 0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return 'image/webp';
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return 'image/gif';
  return null;
};
