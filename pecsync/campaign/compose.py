"""The invitation and the reminders, as text and HTML, Italian first then English.

Every message says what the order's circulars said: the deadline and what happens after it,
that the address does not change, that 2-step verification must be off *before* starting (the
old provider's own steps and how it confirms), not to change the password until the
switch-over, the order's contacts, and the member's personal link.  A reminder opens with that
member's own next step, by the state of the mailbox.  Pure: no database, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from zoneinfo import ZoneInfo

from pecsync.campaign.waves import INVITE
from pecsync.config.member_provider import MemberProvider
from pecsync.state_wording import wording

_ROME = ZoneInfo("Europe/Rome")


@dataclass(frozen=True)
class Letter:
    """What one message is about."""

    address: str
    wave: str
    #: The member's job state (the next step of a reminder depends on it).
    state: str
    link: str
    order_name: str
    deadline: date
    today: date
    provider: MemberProvider
    contacts: tuple[str, ...] = ()
    switch_at: datetime | None = None


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def reminder_step(state: str) -> tuple[str, str] | None:
    """A reminder's first line, the member's own next step in *state* (Italian, English):
    the reminder voice of pecsync.state_wording; None for a state the member has nothing to do in.

    >>> reminder_step("blocked_2fa")[1][:43]
    '2-step verification is on for your mailbox:'
    >>> reminder_step("running") is None
    True
    """
    it, en = wording(state, "it").reminder, wording(state, "en").reminder
    return (it, en) if it is not None and en is not None else None


_INVITE_STEP = (
    "Disattivi prima la verifica in 2 passaggi (passi qui sotto), poi apra il suo link "
    "personale e inserisca la password attuale della sua casella PEC: il resto lo facciamo "
    "noi.",
    "First switch 2-step verification off (steps below), then open your personal link and "
    "enter your PEC mailbox's current password: we do the rest.")


def _day(d: date, lang: str) -> str:
    return d.strftime("%d/%m/%Y") if lang == "it" else d.isoformat()


def _when(t: datetime, lang: str) -> str:
    if lang == "it":
        return t.astimezone(_ROME).strftime("%d/%m/%Y alle %H:%M")
    return t.astimezone(_ROME).strftime("%Y-%m-%d at %H:%M") + " Italian time"


def _provider_name(p: MemberProvider, lang: str) -> str:
    if p.key == "other" and lang == "en":
        return "your current PEC provider"
    return p.name


@dataclass(frozen=True)
class _Text:
    """One language's paragraphs."""

    lang: str
    subject: str
    salutation: str
    greeting: str
    step: str
    button: str
    deadline_title: str
    deadline: str
    address: str
    twofa_title: str
    twofa_intro: str
    twofa_path: tuple[str, ...]
    twofa_after: str
    app_passwords: str
    password_title: str
    password: str
    contacts: str
    footer: str


def _texts(letter: Letter, lang: str) -> _Text:
    p = letter.provider
    name = _provider_name(p, lang)
    left = (letter.deadline - letter.today).days
    day = _day(letter.deadline, lang)
    invite = letter.wave == INVITE
    step_it, step_en = (_INVITE_STEP if invite
                        else reminder_step(letter.state) or _INVITE_STEP)
    contacts = ", ".join(letter.contacts)
    if lang == "it":
        when_left = ("oggi è l'ultimo giorno" if left == 0 else "manca 1 giorno" if left == 1
                     else f"mancano {left} giorni")
        switch = f", il {_when(letter.switch_at, lang)}" if letter.switch_at else ""
        return _Text(
            lang="it",
            subject=(f"Migrazione della PEC {letter.address}: avvii la procedura entro il "
                     f"{day}" if invite else
                     f"Promemoria migrazione PEC {letter.address}: {when_left} (scadenza "
                     f"{day})"),
            greeting=(f"{letter.order_name} sta trasferendo le caselle PEC dei suoi iscritti "
                      f"al nuovo gestore. La sua casella {letter.address} è nell'elenco."
                      if invite else
                      f"La migrazione della sua casella {letter.address} non è ancora "
                      f"avviata."),
            salutation="Gentile iscritta, gentile iscritto,",
            step=step_it, button="Apri il mio link personale",
            deadline_title=f"Scadenza: {day} ({when_left})",
            deadline=("Fino a quella data la migrazione può essere avviata. Dopo, i pannelli "
                      "del vecchio gestore vengono spenti, la posta ancora presente nella "
                      "vecchia casella va persa e la nuova casella resta vuota."),
            address=f"Il suo indirizzo PEC non cambia: {letter.address}.",
            twofa_title="Prima di iniziare: disattivi la verifica in 2 passaggi",
            twofa_intro=(f"Va disattivata prima di inserire la password, non solo dopo un "
                         f"errore. Su {name}:"),
            twofa_path=p.twofa_path,
            twofa_after=((p.twofa_confirm + " " if p.twofa_confirm else "")
                         + "Potrà riattivarla sulla nuova casella dopo il passaggio."),
            app_passwords=(f"Inserisca la password con cui accede alla webmail, non una "
                           f"«password per programmi»: quelle di {name} scadono dopo "
                           f"{p.app_password_months} mesi." if p.app_passwords
                           and p.app_password_months else ""),
            password_title="Non cambi la password",
            password=(f"Non cambi la password della casella fino al passaggio al nuovo "
                      f"gestore{switch}. Se l'ha già cambiata, ripeta la procedura con la "
                      f"nuova password."),
            contacts=f"Per assistenza: {contacts}." if contacts else "",
            footer=(f"Riceve questo messaggio perché la casella {letter.address} è "
                    f"nell'elenco per la migrazione ({letter.order_name}). Il link è "
                    f"personale: non lo inoltri."))
    when_left = ("today is the last day" if left == 0 else "1 day left" if left == 1
                 else f"{left} days left")
    switch = f" on {_when(letter.switch_at, lang)}" if letter.switch_at else ""
    return _Text(
        lang="en",
        subject=(f"PEC migration: start by {day}" if invite
                 else f"Reminder: PEC migration, {when_left} (deadline {day})"),
        greeting=(f"{letter.order_name} is moving its members' PEC mailboxes to the new "
                  f"provider. Your mailbox {letter.address} is on the list."
                  if invite else
                  f"The migration of your mailbox {letter.address} has not started yet."),
        salutation="Dear member,",
        step=step_en, button="Open my personal link",
        deadline_title=f"Deadline: {day} ({when_left})",
        deadline=("Until that date the migration can be started. After it, the old "
                  "provider's panels are switched off, the mail still in the old mailbox is "
                  "lost and the new mailbox stays empty."),
        address=f"Your PEC address does not change: {letter.address}.",
        twofa_title="Before you start: switch 2-step verification off",
        twofa_intro=(f"Switch it off before entering your password, not only after an "
                     f"error. At {name}:"),
        twofa_path=p.twofa_path_en or p.twofa_path,
        twofa_after=((p.twofa_confirm_en + " " if p.twofa_confirm_en else "")
                     + "You can switch it on again on the new mailbox after the "
                       "switch-over."),
        app_passwords=(f"Enter the password you use for the webmail, not an app "
                       f"(\"program\") password: {name}'s expire after "
                       f"{p.app_password_months} months." if p.app_passwords
                       and p.app_password_months else ""),
        password_title="Do not change your password",
        password=(f"Do not change the mailbox's password until the switch-over to the new "
                  f"provider{switch}. If you have changed it, repeat the procedure with the "
                  f"new password."),
        contacts=f"Help: {contacts}." if contacts else "",
        footer=(f"You get this message because the mailbox {letter.address} is on the list "
                f"for the migration ({letter.order_name}). The link is personal: do not "
                f"forward it."))


def _plain(t: _Text, link: str) -> str:
    steps = "\n".join(f"  {i}. {s}" for i, s in enumerate(t.twofa_path, 1))
    parts = [t.salutation, t.greeting, "", t.step, link, "", t.deadline_title, t.deadline,
             "", t.address, "", t.twofa_title, t.twofa_intro, steps, t.twofa_after]
    if t.app_passwords:
        parts.append(t.app_passwords)
    parts += ["", t.password_title, t.password]
    if t.contacts:
        parts += ["", t.contacts]
    parts += ["", t.footer]
    return "\n".join(parts)


def _section(t: _Text, link: str) -> str:
    e = escape
    steps = "".join(f"<li>{e(s)}</li>" for s in t.twofa_path)
    app = f"<p>{e(t.app_passwords)}</p>" if t.app_passwords else ""
    contacts = f"<p>{e(t.contacts)}</p>" if t.contacts else ""
    return (
        f'<div lang="{t.lang}" style="padding:20px 24px">'
        f'<p style="margin:0 0 4px">{e(t.salutation)}</p>'
        f'<p style="margin:0 0 12px">{e(t.greeting)}</p>'
        f'<p style="margin:0 0 16px;font-size:17px;font-weight:600">{e(t.step)}</p>'
        f'<p style="margin:0 0 8px"><a href="{e(link)}" style="display:inline-block;'
        f'background:#0b5cad;color:#ffffff;text-decoration:none;padding:12px 20px;'
        f'border-radius:6px;font-weight:600">{e(t.button)}</a></p>'
        f'<p style="margin:0 0 18px;font-size:13px;color:#5b6678;word-break:break-all">'
        f'{e(link)}</p>'
        f'<div style="border-left:4px solid #c62828;background:#fdf1f1;padding:10px 14px;'
        f'margin:0 0 16px"><p style="margin:0 0 6px;font-weight:700">{e(t.deadline_title)}</p>'
        f'<p style="margin:0">{e(t.deadline)}</p></div>'
        f'<p style="margin:0 0 16px">{e(t.address)}</p>'
        f'<h3 style="font-size:16px;margin:0 0 6px">{e(t.twofa_title)}</h3>'
        f'<p style="margin:0 0 6px">{e(t.twofa_intro)}</p>'
        f'<ol style="margin:0 0 8px;padding-left:22px">{steps}</ol>'
        f'<p style="margin:0 0 8px">{e(t.twofa_after)}</p>{app}'
        f'<h3 style="font-size:16px;margin:16px 0 6px">{e(t.password_title)}</h3>'
        f'<p style="margin:0 0 12px">{e(t.password)}</p>{contacts}'
        f'<p style="margin:16px 0 0;font-size:12px;color:#5b6678">{e(t.footer)}</p>'
        f'</div>')


def compose(letter: Letter) -> Message:
    """The message for *letter*: subject and bodies carry Italian first, then English."""
    it, en = _texts(letter, "it"), _texts(letter, "en")
    subject = f"{it.subject} / {en.subject}"
    text = (_plain(it, letter.link) + "\n\n" + "-" * 60 + "\nEnglish\n\n"
            + _plain(en, letter.link) + "\n")
    html = (
        '<!DOCTYPE html><html lang="it"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(subject)}</title></head>"
        '<body style="margin:0;padding:0;background:#eef1f5">'
        '<div style="max-width:640px;margin:0 auto;background:#ffffff;'
        'font-family:system-ui,-apple-system,Segoe UI,Roboto,Arial,sans-serif;'
        'font-size:15px;line-height:1.5;color:#1d2433">'
        '<div style="background:#0b5cad;color:#ffffff;padding:16px 24px;font-size:18px;'
        f'font-weight:700">{escape(letter.order_name)}<br>'
        '<span style="font-size:14px;font-weight:400">Migrazione PEC · PEC migration'
        '</span></div>'
        + _section(it, letter.link)
        + '<hr style="border:0;border-top:1px solid #d0d7e2;margin:0 24px">'
        + '<p style="margin:16px 24px 0;font-size:13px;color:#5b6678;font-weight:600">'
          'English</p>'
        + _section(en, letter.link)
        + "</div></body></html>")
    return Message(subject, text, html)


def to_email(message: Message, *, sender: str, recipient: str, wave: str = "") -> bytes:
    """The MIME message (text and HTML alternatives), CRLF line ends as SMTP wants.  The
    ``X-Pecsync-Campaign`` header names the wave (to trace a message in the server's log)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = message.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    if wave:
        msg["X-Pecsync-Campaign"] = wave
    msg.set_content(message.text, cte="quoted-printable")
    msg.add_alternative(message.html, subtype="html", cte="quoted-printable")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
