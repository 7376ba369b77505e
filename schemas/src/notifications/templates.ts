/**
 * The notifications context's templates: one per kind of message, each
 * versioned (a change of wording or variables is a new version), with a
 * text per channel and language. Placeholders are `{{name}}`; every one a
 * text uses is a declared variable, and rendering refuses to leave one
 * blank (see render.ts). docs/contexts/notifications.md lists them all, and
 * a test keeps that page true.
 */
import { channels, type Channel } from './events.ts';

export { channels, type Channel };

export type VariableType = 'text' | 'url' | 'code' | 'integer' | 'email';

export type Variable = Readonly<{
  type: VariableType;
  description: string;
  example: string | number;
  /** `caller`: the sender gives it; `system`: the notifications worker fills it in. */
  source: 'caller' | 'system';
}>;

/**
 * `security` (links and codes) and `account` (about the account itself, once)
 * messages go whatever the user chose; `course` and `announcement` messages
 * follow their channel and topic choices and carry an unsubscribe link.
 */
export type Category = 'security' | 'account' | 'course' | 'announcement';

export type EmailText = Readonly<{ subject: string; mjml: string; text: string }>;
export type SmsText = Readonly<{ text: string }>;
export type PushText = Readonly<{ title: string; body: string; data?: Readonly<Record<string, string>> }>;

export type Template = Readonly<{
  id: string;
  version: number;
  category: Category;
  description: string;
  variables: Readonly<Record<string, Variable>>;
  /** By language (`en` always; others where translated). */
  email?: Readonly<Record<string, EmailText>>;
  sms?: Readonly<Record<string, SmsText>>;
  push?: Readonly<Record<string, PushText>>;
}>;

/** Whether a user may switch a template's messages off (security and account messages: never). */
export const canBeSwitchedOff = (t: Template): boolean =>
  t.category === 'course' || t.category === 'announcement';

/** The e-mail layout every template shares: a header, the content, a footer. */
const layout = (content: string, footer: string): string => `<mjml>
  <mj-head>
    <mj-attributes>
      <mj-all font-family="Helvetica, Arial, sans-serif" />
      <mj-text font-size="15px" line-height="22px" color="#1f2933" />
    </mj-attributes>
  </mj-head>
  <mj-body background-color="#f4f5f7">
    <mj-section padding="24px 0 8px">
      <mj-column>
        <mj-text font-size="20px" font-weight="bold" color="#3b5bdb">Lectern</mj-text>
      </mj-column>
    </mj-section>
    <mj-section background-color="#ffffff" padding="16px">
      <mj-column>
${content}
      </mj-column>
    </mj-section>
    <mj-section padding="8px 0 24px">
      <mj-column>
        <mj-text font-size="12px" color="#7b8794">${footer}</mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;
const text = (t: string) => `        <mj-text>${t}</mj-text>`;
const button = (label: string, href: string) =>
  `        <mj-button href="${href}" background-color="#3b5bdb" align="left">${label}</mj-button>`;
const securityFooter = {
  en: 'You get this message because of something done with your Lectern account. It cannot be switched off.',
  de: 'Sie erhalten diese Nachricht wegen einer Aktion mit Ihrem Lectern-Konto. Sie lässt sich nicht abbestellen.',
};
const unsubscribeFooter = {
  en: 'You get this message because of your Lectern notification settings. <a href="{{unsubscribeUrl}}">Unsubscribe</a>.',
  de: 'Sie erhalten diese Nachricht wegen Ihrer Lectern-Benachrichtigungen. <a href="{{unsubscribeUrl}}">Abbestellen</a>.',
};
const unsubscribeText = {
  en: 'Unsubscribe: {{unsubscribeUrl}}',
  de: 'Abbestellen: {{unsubscribeUrl}}',
};

const appUrl: Variable = {
  type: 'url',
  description: 'The web app, as the deployment names it (`LECTERN_APP_URL`).',
  example: 'https://app.lectern.example',
  source: 'system',
};
const unsubscribeUrl: Variable = {
  type: 'url',
  description: 'A one-click unsubscribe link for this message’s topic or channel (RFC 8058).',
  example: 'https://api.lectern.example/api/subscriptions/unsubscribe?token=…',
  source: 'system',
};
const link = (description: string, example: string): Variable => ({
  type: 'url',
  description,
  example,
  source: 'caller',
});

export const templates: readonly Template[] = [
  {
    id: 'welcome',
    version: 1,
    category: 'account',
    description: 'Greets a newly registered user (identity.UserRegistered).',
    variables: {
      email: {
        type: 'email',
        description: 'The address registered.',
        example: 'ada@example.org',
        source: 'caller',
      },
      appUrl,
    },
    email: {
      en: {
        subject: 'Welcome to Lectern',
        mjml: layout(
          [
            text('Welcome to Lectern!'),
            text(
              'Your account for {{email}} is ready as soon as you confirm the address (look for our other e-mail).',
            ),
            button('Open Lectern', '{{appUrl}}'),
          ].join('\n'),
          securityFooter.en,
        ),
        text: 'Welcome to Lectern!\n\nYour account for {{email}} is ready as soon as you confirm the address (look for our other e-mail).\n\nOpen Lectern: {{appUrl}}',
      },
      de: {
        subject: 'Willkommen bei Lectern',
        mjml: layout(
          [
            text('Willkommen bei Lectern!'),
            text(
              'Ihr Konto für {{email}} ist bereit, sobald Sie die Adresse bestätigen (siehe unsere andere E-Mail).',
            ),
            button('Lectern öffnen', '{{appUrl}}'),
          ].join('\n'),
          securityFooter.de,
        ),
        text: 'Willkommen bei Lectern!\n\nIhr Konto für {{email}} ist bereit, sobald Sie die Adresse bestätigen (siehe unsere andere E-Mail).\n\nLectern öffnen: {{appUrl}}',
      },
    },
  },
  {
    id: 'verify-email',
    version: 1,
    category: 'security',
    description:
      'The link that confirms a new account’s address (identity.EmailVerificationRequested, purpose register).',
    variables: {
      link: link(
        'The verification link, with its token in the fragment.',
        'https://app.lectern.example/verify-email#token=…',
      ),
      expiresInHours: {
        type: 'integer',
        description: 'How long the link works.',
        example: 24,
        source: 'caller',
      },
    },
    email: {
      en: {
        subject: 'Confirm your e-mail address',
        mjml: layout(
          [
            text('Please confirm your e-mail address to activate your Lectern account.'),
            button('Confirm my address', '{{link}}'),
            text(
              'The link works for {{expiresInHours}} hours. If you did not register, ignore this message.',
            ),
          ].join('\n'),
          securityFooter.en,
        ),
        text: 'Open {{link}} within {{expiresInHours}} hours to activate your account.\n\nIf you did not register, ignore this message.',
      },
      de: {
        subject: 'Bestätigen Sie Ihre E-Mail-Adresse',
        mjml: layout(
          [
            text('Bitte bestätigen Sie Ihre E-Mail-Adresse, um Ihr Lectern-Konto zu aktivieren.'),
            button('Adresse bestätigen', '{{link}}'),
            text(
              'Der Link gilt {{expiresInHours}} Stunden. Wenn Sie sich nicht registriert haben, ignorieren Sie diese Nachricht.',
            ),
          ].join('\n'),
          securityFooter.de,
        ),
        text: 'Öffnen Sie {{link}} innerhalb von {{expiresInHours}} Stunden, um Ihr Konto zu aktivieren.\n\nWenn Sie sich nicht registriert haben, ignorieren Sie diese Nachricht.',
      },
    },
  },
  {
    id: 'confirm-email-change',
    version: 1,
    category: 'security',
    description:
      'The link that confirms a new address for an account (identity.EmailVerificationRequested, purpose change).',
    variables: {
      link: link(
        'The confirmation link, with its token in the fragment.',
        'https://app.lectern.example/confirm-email#token=…',
      ),
      expiresInHours: {
        type: 'integer',
        description: 'How long the link works.',
        example: 24,
        source: 'caller',
      },
    },
    email: {
      en: {
        subject: 'Confirm your new e-mail address',
        mjml: layout(
          [
            text('Confirm that this address should become your Lectern account’s.'),
            button('Confirm the new address', '{{link}}'),
            text(
              'The link works for {{expiresInHours}} hours. If you did not ask for this, ignore this message.',
            ),
          ].join('\n'),
          securityFooter.en,
        ),
        text: "Open {{link}} within {{expiresInHours}} hours to make this your account's address.\n\nIf you did not ask for this, ignore this message.",
      },
    },
  },
  {
    id: 'reset-password',
    version: 1,
    category: 'security',
    description: 'The link that sets a new password (identity.PasswordResetRequested).',
    variables: {
      link: link(
        'The reset link, with its token in the fragment.',
        'https://app.lectern.example/reset-password#token=…',
      ),
      expiresInMinutes: {
        type: 'integer',
        description: 'How long the link works.',
        example: 15,
        source: 'caller',
      },
    },
    email: {
      en: {
        subject: 'Reset your password',
        mjml: layout(
          [
            text('Someone, hopefully you, asked to reset the password of your Lectern account.'),
            button('Choose a new password', '{{link}}'),
            text(
              'The link works for {{expiresInMinutes}} minutes. If you did not ask, ignore this message: your password stays as it is.',
            ),
          ].join('\n'),
          securityFooter.en,
        ),
        text: 'Open {{link}} within {{expiresInMinutes}} minutes to choose a new password.\n\nIf you did not ask, ignore this message: your password stays as it is.',
      },
      de: {
        subject: 'Setzen Sie Ihr Passwort zurück',
        mjml: layout(
          [
            text('Jemand, hoffentlich Sie, möchte das Passwort Ihres Lectern-Kontos zurücksetzen.'),
            button('Neues Passwort wählen', '{{link}}'),
            text(
              'Der Link gilt {{expiresInMinutes}} Minuten. Wenn Sie das nicht waren, ignorieren Sie diese Nachricht.',
            ),
          ].join('\n'),
          securityFooter.de,
        ),
        text: 'Öffnen Sie {{link}} innerhalb von {{expiresInMinutes}} Minuten, um ein neues Passwort zu wählen.\n\nWenn Sie das nicht waren, ignorieren Sie diese Nachricht.',
      },
    },
  },
  {
    id: 'phone-code',
    version: 1,
    category: 'security',
    description: 'The code that confirms a phone number (identity.PhoneCodeSent).',
    variables: {
      code: { type: 'code', description: 'The six digits.', example: '048213', source: 'caller' },
      expiresInMinutes: {
        type: 'integer',
        description: 'How long the code works.',
        example: 10,
        source: 'caller',
      },
    },
    sms: {
      en: { text: 'Your Lectern code is {{code}}. It expires in {{expiresInMinutes}} minutes.' },
      de: { text: 'Ihr Lectern-Code lautet {{code}}. Er läuft in {{expiresInMinutes}} Minuten ab.' },
    },
  },
  {
    id: 'course-published',
    version: 1,
    category: 'course',
    description:
      'A course someone follows (or by an author they follow) was published (content.CoursePublished).',
    variables: {
      courseTitle: {
        type: 'text',
        description: 'The course’s title.',
        example: 'Event sourcing from scratch',
        source: 'caller',
      },
      courseUrl: link('Where the course is in the web app.', 'https://app.lectern.example/courses/…'),
      authorName: { type: 'text', description: 'Who wrote it.', example: 'Ada Lovelace', source: 'caller' },
      unsubscribeUrl,
    },
    email: {
      en: {
        subject: 'New on Lectern: {{courseTitle}}',
        mjml: layout(
          [
            text('{{authorName}} has published <b>{{courseTitle}}</b>.'),
            button('See the course', '{{courseUrl}}'),
          ].join('\n'),
          unsubscribeFooter.en,
        ),
        text:
          '{{authorName}} has published "{{courseTitle}}".\n\nSee the course: {{courseUrl}}\n\n' +
          unsubscribeText.en,
      },
      de: {
        subject: 'Neu auf Lectern: {{courseTitle}}',
        mjml: layout(
          [
            text('{{authorName}} hat <b>{{courseTitle}}</b> veröffentlicht.'),
            button('Zum Kurs', '{{courseUrl}}'),
          ].join('\n'),
          unsubscribeFooter.de,
        ),
        text:
          '{{authorName}} hat „{{courseTitle}}“ veröffentlicht.\n\nZum Kurs: {{courseUrl}}\n\n' +
          unsubscribeText.de,
      },
    },
    sms: { en: { text: 'New on Lectern: {{courseTitle}} by {{authorName}}. {{courseUrl}}' } },
    push: {
      en: {
        title: 'New course: {{courseTitle}}',
        body: '{{authorName}} has published a course.',
        data: { url: '{{courseUrl}}' },
      },
    },
  },
  {
    id: 'announcement',
    version: 1,
    category: 'announcement',
    description: 'A message from the Lectern team (`POST /api/notify/send`).',
    variables: {
      title: {
        type: 'text',
        description: 'The headline.',
        example: 'Spring courses are open',
        source: 'caller',
      },
      message: {
        type: 'text',
        description: 'One paragraph.',
        example: 'Twelve new courses start in March.',
        source: 'caller',
      },
      url: link('Where to read more.', 'https://app.lectern.example/news/spring'),
      unsubscribeUrl,
    },
    email: {
      en: {
        subject: '{{title}}',
        mjml: layout(
          [text('<b>{{title}}</b>'), text('{{message}}'), button('Read more', '{{url}}')].join('\n'),
          unsubscribeFooter.en,
        ),
        text: '{{title}}\n\n{{message}}\n\nRead more: {{url}}\n\n' + unsubscribeText.en,
      },
    },
    push: { en: { title: '{{title}}', body: '{{message}}', data: { url: '{{url}}' } } },
  },
];

const byId = new Map(templates.map((t) => [t.id, t]));

/** The template with this id, or undefined. */
export const templateById = (id: string): Template | undefined => byId.get(id);
