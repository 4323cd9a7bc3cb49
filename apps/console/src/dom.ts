// Small DOM helpers. Every text goes in through textContent: nothing from the API is parsed
// as HTML, and the CSP forbids inline code anyway.

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

export function input(id: string): HTMLInputElement {
  return $<HTMLInputElement>(id);
}

export function select(id: string): HTMLSelectElement {
  return $<HTMLSelectElement>(id);
}

type Child = Node | string | null | undefined;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'class') element.className = value;
    else if (name.startsWith('data-')) element.dataset[name.slice(5).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
    else element.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}

export function cell(content: Child, className = ''): HTMLTableCellElement {
  return el('td', className === '' ? {} : { class: className }, content);
}

export function row(cells: HTMLTableCellElement[], attributes: Record<string, string> = {}): HTMLTableRowElement {
  return el('tr', attributes, ...cells);
}

/** A table body's rows, or one muted line that says why it is empty. */
export function fill(table: string, rows: HTMLTableRowElement[], empty: string): void {
  const body = $<HTMLTableElement>(table).tBodies[0]!;
  const columns = $<HTMLTableElement>(table).tHead?.rows[0]?.cells.length ?? 1;
  if (rows.length === 0) {
    const td = cell(empty, 'muted');
    td.colSpan = columns;
    body.replaceChildren(row([td], { class: 'empty' }));
  } else body.replaceChildren(...rows);
}

export function link(href: string, text: string): HTMLAnchorElement {
  return el('a', { href }, text);
}

/** Asks before anything drastic; resolves true only on the Confirm button. */
export function confirmAction(text: string): Promise<boolean> {
  const dialog = $<HTMLDialogElement>('confirm');
  $('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const done = (answer: boolean) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(answer);
    };
    const ok = $('confirm-ok');
    const cancel = $('confirm-cancel');
    const onOk = () => done(true);
    const onCancel = () => done(false);
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
  });
}

let noticeTimer: ReturnType<typeof setTimeout> | undefined;

/** A short message at the top of the page: what just happened, or what went wrong. */
export function notify(text: string, kind: 'ok' | 'error' = 'ok'): void {
  const notice = $('notice');
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = false;
  if (noticeTimer !== undefined) clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), 8_000);
}
