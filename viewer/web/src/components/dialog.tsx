// A modal dialog: focus moves into it, Escape and the backdrop close it, focus returns after.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('input, select, textarea, button:not(.dialog-close)');
    first?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape') props.onClose();
      if (e.key === 'Tab' && ref.current) {
        // Keep Tab inside the dialog.
        const items = [...ref.current.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea')].filter((el) => !el.hasAttribute('disabled'));
        if (!items.length) return;
        const i = items.indexOf(document.activeElement as HTMLElement);
        if (e.shiftKey && i <= 0) {
          items[items.length - 1]!.focus();
          e.preventDefault();
        } else if (!e.shiftKey && i === items.length - 1) {
          items[0]!.focus();
          e.preventDefault();
        }
      }
    };
    addEventListener('keydown', key);
    return () => {
      removeEventListener('keydown', key);
      before?.focus?.();
    };
  }, []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`dialog${props.wide ? ' dialog-wide' : ''}`} role="dialog" aria-modal="true" aria-label={props.title} ref={ref}>
        <header class="dialog-head">
          <h2>{props.title}</h2>
          <button type="button" class="dialog-close" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        <div class="dialog-body">{props.children}</div>
      </div>
    </div>
  );
}

export function Confirm(props: { title: string; message: ComponentChildren; confirmLabel: string; danger?: boolean; busy?: boolean; onConfirm: () => void; onCancel: () => void }) {
  return (
    <Dialog title={props.title} onClose={props.onCancel}>
      <div class="confirm-message">{props.message}</div>
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class={`btn ${props.danger ? 'btn-danger' : 'btn-primary'}`} disabled={props.busy} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </Dialog>
  );
}

/** The end of a dialog's form: its error, Cancel and the submit button. */
export function FormFooter(props: { error: string; onCancel: () => void; submitLabel: string; busy?: boolean; danger?: boolean }) {
  return (
    <>
      {props.error && (
        <p class="field-error" role="alert">
          {props.error}
        </p>
      )}
      <div class="dialog-actions">
        <button type="button" class="btn" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" class={`btn ${props.danger ? 'btn-danger' : 'btn-primary'}`} disabled={props.busy}>
          {props.submitLabel}
        </button>
      </div>
    </>
  );
}
