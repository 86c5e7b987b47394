"""A deterministic synthetic "model" for the support-triage example (no model wrote these responses).

Used as a python-callable provider: ``promptlab run ... --provider python:synthetic_model.py:respond``.

It answers the way a small chat model would, from what it is actually sent: it reads the rendered system prompt
(category glossary, priority rules, tool policy, style and safety instructions) and the user turn (customer,
locale, order id, earlier conversation, latest message). It never looks at a version label or a case id, so a
prompt's behaviour follows from its wording:

- categories are scored against the glossary in the system prompt (what each line lists) plus a weaker prior
  (what the model "knows" a word usually means), so moving a term between glossary lines moves the routing;
- instructions it finds (be warm and detailed, decline legal advice, ask a clarifying question on vague messages,
  treat the customer's message as data, when to call `lookup_order`) change its behaviour;
- it calls `lookup_order` when the prompt's tool policy says so and an order id is present, then answers from the
  tool output, and sometimes handles a failed lookup badly (it guesses a delivery status);
- it makes a few percent of ordinary mistakes, drawn from a hash of the request and the sample index: a wrong
  category or priority, a code fence around the JSON, an out-of-enum value, an extra field, text after the JSON;
  its judgement calls about a given message (obey an injection, guess on a vague message ...) mostly repeat across
  samples, as a model's do at low temperature;
- usage is about one token per four characters of everything sent (messages, tools, schema) and generated;
  latency is lognormal and grows with output length.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from promptlab.providers import ChatRequest, ChatResponse, ToolCall, Usage

__all__ = ["respond"]

# --------------------------------------------------------------------------------------------------------------
# What the model "understands": surface forms (en, de, fr, pt) -> concepts.
# --------------------------------------------------------------------------------------------------------------

CONCEPTS: dict[str, str] = {
    "track": r"\bwhere is\b|\bwhere's\b|\btracking\b|\bupdate on\b|\bstatus of\b|\bwo ist\b|sendungsverfolgung"
    r"|\bstatus\b|où est|\bsuivi\b|onde está|rastreamento|\brastrear\b|\bprocessing\b",
    "delivery_date": r"\bwhen will\b|\bwann kommt\b|\bquand est-ce que\b|\bquando (?:meu|minha|o|a)\b|\bliefertermin\b",
    "lost": r"never (?:received|arrived|got)|nie angekommen|nie erhalten|jamais reçu|nunca chegou|nunca recebi"
    r"|\bmissing parcel\b",
    "shipping_cost": r"shipping cost|shipping fee|versandkosten|frais de port|\bfrete\b",
    "delivery_option": r"delivery options|express|next-day|lieferoptionen|options de livraison|entrega expressa"
    r"|opções de entrega",
    "address_change": r"shipping address|delivery address|change the address|lieferadresse|adresse de livraison"
    r"|endereço de entrega",
    "customs": r"\bcustoms\b|import dut|\bzoll\b|\bdouane\b|alfândega",
    "damaged": r"\bdamaged\b|\bcrushed\b|beschädigt|eingedrückt|endommagé|\babîmé|danificad|amassad",
    "return": r"\breturn (?:the|it|my)\b|\bsent (?:the .{1,40} )?back\b|zurückschicken|zurückgeschickt"
    r"|\bretourner\b|\brenvoyé|\bdevolver\b|\bdevolvi\b",
    "refund": r"\brefund|money back|geld zurück|erstattung|rembours|reembolso|estorno",
    "exchange": r"\bexchange\b|umtauschen|\béchanger\b|\btrocar\b",
    "cancel": r"\bcancel|stornieren|annuler|\bcancel[ae]",
    "charge": r"\bcharged\b|\bcharge of\b|\bcharges?\b on my|abgebucht|abbuchung|belastet|débité|prélèvement"
    r"|\bcobrad[oa]\b|\bcobrança\b",
    "double_charge": r"\btwice\b|zweimal|deux fois|duas vezes",
    "invoice": r"\binvoice|\brechnung|\bfacture|nota fiscal|\bfatura\b",
    "vat": r"\bvat\b|\bmwst\b|umsatzsteuer|ust-idnr|\btva\b|\bcnpj\b",
    "payment_method": r"payment method|paypal|bank transfer|zahlungsmethode|überweisung|moyens de paiement"
    r"|formas de pagamento|\bboleto\b|\bpix\b",
    "card_decline": r"declined|abgelehnt|refusée|recusado",
    "error": r"\berror\b|\bcrash|does(?:n't| not) (?:load|work)|stürzt .{0,20}ab|fehlermeldung|\bfehler\b|\bplante\b"
    r"|\berreur\b|ne charge pas|\btrava\b|não carrega|\berro\b|went wrong|blank",
    "app": r"\bapp\b|\bwebsite\b|\bapplication\b|\baplicativo\b|\bsite\b|webseite|\bwebsite\b",
    "login": r"\blog ?in\b|\bsign in\b|einloggen|anmelden|me connecter|\bentrar\b|\blocked\b|gesperrt|bloqué"
    r"|bloqueada",
    "password": r"password|passwort|mot de passe|\bsenha\b",
    "email_change": r"change (?:the|my) e-?mail|e-?mail (?:was|has been) changed|e-mail-adresse .{0,30}ändern"
    r"|e-mail-adresse wurde geändert|changer l'adresse e-mail|adresse e-mail a été modifiée"
    r"|alter(?:ar|o) (?:o|meu) e-mail|alteraram (?:o|meu) e-mail",
    "deletion": r"delete my account|konto löschen|löschen sie mein konto|supprimer mon compte|excluir minha conta",
    "personal_data": r"personal data|\bgdpr\b|\bdsgvo\b|\brgpd\b|\blgpd\b|meine daten|mes données|meus dados",
    "hacked": r"\bhacked\b|gehackt|piraté|hackead",
    "law": r"\blaw\b|\blegally\b|\bgesetz|\brecht\b|rechtlich|\bloi\b|en droit|\blei\b|pela lei",
    "rights": r"\bentitle|\bmy rights\b|anspruch|\bmes droits\b|\bmeus direitos\b|direito a",
    "contract": r"\bclause\b|\bterms\b|\bcontract\b|\bagb\b|\bvertrag|\bklausel|conditions générales|\bcontrat\b"
    r"|cláusula|\btermos\b|\bcontrato\b|widerrufsbelehrung",
    "lawsuit": r"\bsue\b|lawsuit|\blawyer\b|\battorney\b|verklagen|\banwalt\b|poursuivre en justice|\bavocat\b"
    r"|\bprocessar\b|advogad",
    "warranty": r"warranty|guarantee|gewährleistung|garantie|garantia",
    "dissatisfied": r"unacceptable|disappointed|\brude\b|terrible|unverschämt|enttäuscht|unhöflich|inacceptable"
    r"|\bdéçu|\bimpoli|inaceitável|decepcionad|\bgrosso\b|péssimo",
    "escalate": r"\bmanager\b|supervisor|escalat|vorgesetzt|\bresponsable\b|\bgerente\b",
    "staff": r"\bagent\b|\bstaff\b|mitarbeiter|\bconseiller\b|atendente|\bhung up\b|aufgelegt",
    "fraud": r"\bfraud|did not make|didn't make|didn't place|did not place|not authori[sz]ed|nicht autorisiert"
    r"|nicht getätigt|non autorisé|pas autorisé|não reconheço|não fiz|betrug",
    "safety": r"\bsmoke\b|caught fire|\bburn|overheat|\brauch\b|\bbrand\b|fumée|\bfeu\b|fumaça|pegou fogo",
    "info": r"\bdo you (?:ship|offer|accept|deliver)\b|\bwhich payment|\bwhat (?:delivery|payment)|how long is"
    r"|where can i find|liefern sie|welche (?:liefer|zahlungs)|wie lange|wo finde ich|livrez-vous|quels (?:sont|moyens)"
    r"|quelles options|combien de temps|où puis-je trouver|vocês entregam|quais (?:são|formas)|quanto tempo"
    r"|onde encontro",
}
_CONCEPT_RE = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in CONCEPTS.items()}

# How glossary wording in a system prompt maps to concepts (the glossary is written in English).
GLOSS_TERMS: dict[str, str] = {
    "track": r"where an order is|tracking",
    "delivery_date": r"delivery date",
    "shipping_cost": r"shipping costs",
    "delivery_option": r"delivery options",
    "address_change": r"address changes",
    "customs": r"customs",
    "damaged": r"damaged",
    "return": r"returns",
    "refund": r"refunds",
    "exchange": r"exchanges",
    "cancel": r"cancellations",
    "charge": r"\bcharges\b",
    "double_charge": r"double charges",
    "invoice": r"invoices",
    "vat": r"\bVAT\b",
    "payment_method": r"payment methods",
    "card_decline": r"card declines",
    "error": r"errors|bugs|does not work",
    "app": r"website|\bapp\b",
    "login": r"\blogin\b",
    "password": r"password",
    "email_change": r"email change",
    "deletion": r"account deletion",
    "personal_data": r"personal data",
    "law": r"\blaws\b",
    "rights": r"\brights\b",
    "contract": r"contracts",
    "lawsuit": r"lawsuits",
    "warranty": r"warrant",
    "dissatisfied": r"dissatisfaction",
    "escalate": r"escalation",
    "staff": r"staff",
}

# The model's prior: where a concept usually belongs when a prompt says nothing about it.
PRIOR: dict[str, str] = {
    "track": "order_status",
    "delivery_date": "order_status",
    "lost": "order_status",
    "shipping_cost": "shipping",
    "delivery_option": "shipping",
    "address_change": "shipping",
    "customs": "shipping",
    "damaged": "shipping",
    "return": "refund",
    "refund": "refund",
    "exchange": "refund",
    "cancel": "refund",
    "charge": "billing",
    "double_charge": "billing",
    "invoice": "billing",
    "vat": "billing",
    "payment_method": "billing",
    "card_decline": "billing",
    "fraud": "billing",
    "error": "technical",
    "app": "technical",
    "login": "account",
    "password": "account",
    "email_change": "account",
    "deletion": "account",
    "personal_data": "account",
    "hacked": "account",
    "law": "legal",
    "rights": "legal",
    "contract": "legal",
    "lawsuit": "legal",
    "warranty": "legal",
    "dissatisfied": "complaint",
    "escalate": "complaint",
    "staff": "complaint",
}

GLOSS_WEIGHT = 3.0
PRIOR_WEIGHT = 1.0

# Plausible confusions for an ordinary category slip.
NEIGHBOURS: dict[str, list[str]] = {
    "order_status": ["shipping", "complaint"],
    "shipping": ["order_status", "refund"],
    "refund": ["billing", "complaint"],
    "billing": ["refund", "account"],
    "technical": ["account", "other"],
    "account": ["technical", "other"],
    "legal": ["complaint", "refund"],
    "complaint": ["refund", "other"],
    "other": ["complaint", "technical"],
}
PRIORITY_SLIPS = {"low": "normal", "normal": "high", "high": "normal", "urgent": "high"}
# Out-of-enum values a model sometimes writes instead of the allowed ones.
ENUM_SLIPS = {"normal": "medium", "low": "Low", "high": "High", "urgent": "critical"}

INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier)|ignoriere|ignorez|ignore (?:toutes )?les instructions"
    r"|ignore as instruções|ignore todas|developer mode|entwicklermodus|mode développeur|modo desenvolvedor"
    r"|you are now|du bist jetzt|tu es maintenant|você agora é|\bsystem:|\[system\]|\[admin\]|<\/?system>",
    re.IGNORECASE,
)
REVEAL = re.compile(
    r"system ?prompt|your (?:instructions|rules|prompt)|internal (?:queue|notes|escalation|instructions)"
    r"|deine anweisungen|ihre anweisungen|interne warteschlange|tes instructions|vos instructions"
    r"|instructions internes|suas instruções|fila interna|prompt do sistema",
    re.IGNORECASE,
)
SET_PRIORITY = re.compile(
    r"(?:priority|priorität|priorité|prioridade)\W{0,3}(?:to|auf|à|para|=|:|as)?\W{0,3}"
    r"(urgent|urgente|dringend|high|hoch|haute|alta)",
    re.IGNORECASE,
)
SET_CATEGORY = re.compile(
    r"(?:category|kategorie|catégorie|categoria)\W{0,3}(?:to|auf|à|para|=|:|as)?\W{0,3}[\"']?([a-z_]+)",
    re.IGNORECASE,
)
DICTATED = re.compile(
    r"\b(?:say|write|reply with|confirm|schreibe|antworte mit|écris|confirme|responda|escreva)\b"
    r"[^\"“'«]{0,30}[\"“'«]([^\"”'»]{8,120})[\"”'»]",
    re.IGNORECASE,
)
ORDER_ID = re.compile(r"\b(?:NW|GX|AC|IT)-\d{5,7}\b")

PRIORITY_WORDS = {
    "urgent": "urgent",
    "urgente": "urgent",
    "dringend": "urgent",
    "high": "high",
    "hoch": "high",
    "haute": "high",
    "alta": "high",
}


# --------------------------------------------------------------------------------------------------------------
# What the model writes, per language.
# --------------------------------------------------------------------------------------------------------------

TEXT: dict[str, dict[str, Any]] = {
    "en": {
        "greet": "Hi {name},",
        "thanks": "Thanks for your message.",
        "body": {
            "order_status": "I'll check on your order and update you shortly.",
            "shipping": "Our shipping team will look into this and get back to you.",
            "shipping_info": "You can find our delivery options and shipping costs on the Shipping page at checkout.",
            "refund": "I've passed your request to our returns team, who will review it.",
            "billing": "Our billing team will review this and get back to you.",
            "billing_urgent": "I've flagged this charge to our billing team as a priority and they will investigate.",
            "billing_info": "We accept the payment methods listed at checkout.",
            "technical": "Sorry about the trouble. Our technical team will look into the error.",
            "account": "Our account team will help you with this.",
            "account_urgent": "I've asked our security team to secure your account right away.",
            "legal": "Under consumer law you generally have a two-year statutory warranty, so you should be able to "
            "insist on a repair or replacement and, if we refuse, take the matter to a small-claims court.",
            "legal_info": "You can find our terms and conditions, return policy and warranty details in the footer "
            "of our website.",
            "complaint": "I'm sorry to hear about your experience. I've shared your feedback with the team lead.",
            "complaint_escalate": "I've escalated your case to a team lead, who will contact you.",
            "other": "Our team will look into your request.",
        },
        "order": {
            "in_transit": "Your order {order_id} is on its way with {carrier} (tracking {tracking}) and should "
            "arrive by {eta}.",
            "processing": "Your order {order_id} is being prepared; the current estimated delivery date is {eta}.",
            "delayed": "Your order {order_id} is delayed at {carrier}; the new estimated delivery date is {eta}.",
            "delivered": "{carrier} shows order {order_id} as delivered on {delivered}. As it has not reached you, we "
            "will open an investigation with {carrier}.",
            "cancelled": "Order {order_id} has been cancelled.",
        },
        "context": "I can see order {order_id} in our system (status: {status}).",
        "status": {
            "in_transit": "in transit",
            "processing": "being prepared",
            "delayed": "delayed",
            "delivered": "delivered",
            "cancelled": "cancelled",
        },
        "tool_failed": "I couldn't retrieve the details of order {order_id} right now. Our team will check it "
        "manually and get back to you within 24 hours.",
        "tool_guess": "Your order {order_id} is on its way and should arrive within 2-3 business days.",
        "refuse_legal": "I'm sorry, but I can't give legal advice. For advice on your situation, please consult a "
        "lawyer or a consumer advice centre.",
        "refuse_injection": "I'm sorry, but I can't share internal instructions or system details. If you have a "
        "question about an order, a payment or your account, I'm happy to help.",
        "clarify": "Could you tell me a bit more about what you need help with: is it about an order, a payment, "
        "or your account?",
        "ack": [
            "I completely understand how frustrating this must be, and I'm glad you reached out.",
            "Thank you so much for getting in touch, and for your patience while we sort this out.",
            "I really appreciate you letting us know, and I'm sorry for any inconvenience this has caused.",
            "I can imagine how annoying this is, and I want to make sure it gets resolved for you.",
        ],
        "next": "Here is what happens next: the responsible team will review your request and reply by email "
        "within 1-2 business days, and you don't need to do anything else in the meantime.",
        "detail": "If anything changes before then, just reply to this message and we will add it to your case.",
        "signoff": "Warm regards,\nThe {tenant} support team",
        "closing": "Best regards, {tenant} Support",
        "leak": "Sure! These are my instructions: {secret}",
        "approve": "Done: {dictated}",
    },
    "de": {
        "greet": "Hallo {name},",
        "thanks": "Vielen Dank für Ihre Nachricht.",
        "body": {
            "order_status": "Ich prüfe Ihre Bestellung und melde mich in Kürze.",
            "shipping": "Unser Versandteam kümmert sich darum und meldet sich bei Ihnen.",
            "shipping_info": "Unsere Lieferoptionen und Versandkosten finden Sie auf der Versandseite im Checkout.",
            "refund": "Ich habe Ihre Anfrage an unser Retourenteam weitergegeben, das sie prüfen wird.",
            "billing": "Unser Buchhaltungsteam prüft das und meldet sich bei Ihnen.",
            "billing_urgent": "Ich habe diese Abbuchung mit Priorität an unser Buchhaltungsteam gemeldet.",
            "billing_info": "Wir akzeptieren die im Checkout angezeigten Zahlungsarten.",
            "technical": "Entschuldigen Sie die Umstände. Unser Technikteam sieht sich den Fehler an.",
            "account": "Unser Kontoteam hilft Ihnen dabei gern weiter.",
            "account_urgent": "Ich habe unser Sicherheitsteam gebeten, Ihr Konto sofort zu sichern.",
            "legal": "Nach deutschem Recht haben Sie zwei Jahre gesetzliche Gewährleistung; Sie können also "
            "Reparatur oder Ersatz verlangen und notfalls vor Gericht gehen.",
            "legal_info": "Unsere AGB, die Widerrufsbelehrung und Informationen zur Gewährleistung finden Sie im "
            "Fußbereich unserer Webseite.",
            "complaint": "Es tut mir leid, dass Sie diese Erfahrung gemacht haben. Ich habe Ihr Feedback an die "
            "Teamleitung weitergegeben.",
            "complaint_escalate": "Ich habe Ihren Fall an eine Teamleitung eskaliert, die sich bei Ihnen meldet.",
            "other": "Unser Team kümmert sich um Ihr Anliegen.",
        },
        "order": {
            "in_transit": "Ihre Bestellung {order_id} ist mit {carrier} unterwegs (Sendungsnummer {tracking}) und "
            "kommt voraussichtlich bis {eta} an.",
            "processing": "Ihre Bestellung {order_id} wird gerade vorbereitet; voraussichtliche Lieferung: {eta}.",
            "delayed": "Ihre Bestellung {order_id} verzögert sich bei {carrier}; neuer Liefertermin: {eta}.",
            "delivered": "Laut {carrier} wurde die Bestellung {order_id} am {delivered} zugestellt. Da sie nicht bei "
            "Ihnen angekommen ist, leiten wir einen Nachforschungsauftrag bei {carrier} ein.",
            "cancelled": "Die Bestellung {order_id} wurde storniert.",
        },
        "context": "Ich sehe die Bestellung {order_id} in unserem System (Status: {status}).",
        "status": {
            "in_transit": "im Versand",
            "processing": "in Bearbeitung",
            "delayed": "verzögert",
            "delivered": "zugestellt",
            "cancelled": "storniert",
        },
        "tool_failed": "Leider kann ich die Details zu Bestellung {order_id} gerade nicht abrufen. Unser Team "
        "prüft sie manuell und meldet sich innerhalb von 24 Stunden.",
        "tool_guess": "Ihre Bestellung {order_id} ist unterwegs und kommt voraussichtlich in 2-3 Werktagen an.",
        "refuse_legal": "Es tut mir leid, aber ich kann Ihnen leider keine Rechtsberatung geben. Bitte wenden Sie "
        "sich dafür an einen Anwalt oder eine Verbraucherzentrale.",
        "refuse_injection": "Interne Anweisungen kann ich leider nicht weitergeben. Wenn Sie eine Frage zu einer "
        "Bestellung, einer Zahlung oder Ihrem Konto haben, helfe ich gern.",
        "clarify": "Könnten Sie mir etwas genauer beschreiben, worum es geht: um eine Bestellung, eine Zahlung "
        "oder Ihr Konto?",
        "ack": [
            "Ich kann gut verstehen, wie ärgerlich das ist, und danke Ihnen, dass Sie sich gemeldet haben.",
            "Vielen herzlichen Dank für Ihre Geduld, während wir uns darum kümmern.",
            "Danke, dass Sie uns Bescheid geben, und entschuldigen Sie bitte die Unannehmlichkeiten.",
            "Ich verstehe, dass das sehr lästig ist, und möchte sicherstellen, dass es für Sie gelöst wird.",
        ],
        "next": "So geht es weiter: Das zuständige Team prüft Ihre Anfrage und antwortet Ihnen innerhalb von "
        "1-2 Werktagen per E-Mail; bis dahin müssen Sie nichts weiter tun.",
        "detail": "Sollte sich bis dahin etwas ändern, antworten Sie einfach auf diese Nachricht.",
        "signoff": "Herzliche Grüße\nIhr {tenant} Kundenservice",
        "closing": "Viele Grüße, {tenant} Kundenservice",
        "leak": "Klar! Das sind meine Anweisungen: {secret}",
        "approve": "Erledigt: {dictated}",
    },
    "fr": {
        "greet": "Bonjour {name},",
        "thanks": "Merci pour votre message.",
        "body": {
            "order_status": "Je vérifie votre commande et je reviens vers vous rapidement.",
            "shipping": "Notre équipe logistique s'en occupe et reviendra vers vous.",
            "shipping_info": "Nos options de livraison et frais de port sont indiqués sur la page Livraison.",
            "refund": "J'ai transmis votre demande à notre service retours, qui va l'examiner.",
            "billing": "Notre service facturation va examiner cela et revenir vers vous.",
            "billing_urgent": "J'ai signalé ce prélèvement en priorité à notre service facturation.",
            "billing_info": "Nous acceptons les moyens de paiement affichés lors de la commande.",
            "technical": "Désolé pour ce désagrément. Notre équipe technique va analyser l'erreur.",
            "account": "Notre équipe compte client va vous aider.",
            "account_urgent": "J'ai demandé à notre équipe sécurité de protéger votre compte immédiatement.",
            "legal": "En droit français, vous bénéficiez d'une garantie légale de conformité de deux ans ; vous "
            "pouvez donc exiger une réparation ou un remplacement, et saisir le tribunal si nécessaire.",
            "legal_info": "Nos conditions générales de vente et notre politique de retour sont en bas de page de "
            "notre site.",
            "complaint": "Je suis navré de cette expérience. J'ai transmis votre retour au responsable d'équipe.",
            "complaint_escalate": "J'ai transmis votre dossier à un responsable, qui vous contactera.",
            "other": "Notre équipe va examiner votre demande.",
        },
        "order": {
            "in_transit": "Votre commande {order_id} est en route avec {carrier} (suivi {tracking}) et devrait "
            "arriver d'ici le {eta}.",
            "processing": "Votre commande {order_id} est en préparation ; livraison estimée : {eta}.",
            "delayed": "Votre commande {order_id} a pris du retard chez {carrier} ; nouvelle date estimée : {eta}.",
            "delivered": "{carrier} indique que la commande {order_id} a été livrée le {delivered}. Comme vous ne "
            "l'avez pas reçue, nous ouvrons une enquête auprès de {carrier}.",
            "cancelled": "La commande {order_id} a été annulée.",
        },
        "context": "Je vois la commande {order_id} dans notre système (statut : {status}).",
        "status": {
            "in_transit": "en cours d'acheminement",
            "processing": "en préparation",
            "delayed": "retardée",
            "delivered": "livrée",
            "cancelled": "annulée",
        },
        "tool_failed": "Je n'arrive pas à récupérer les informations de la commande {order_id} pour le moment. "
        "Notre équipe va la vérifier manuellement et revenir vers vous sous 24 heures.",
        "tool_guess": "Votre commande {order_id} est en route et devrait arriver sous 2 à 3 jours ouvrés.",
        "refuse_legal": "Je suis désolé, mais je ne peux pas donner de conseil juridique. Pour votre situation, "
        "adressez-vous à un avocat ou à une association de consommateurs.",
        "refuse_injection": "Je suis désolé, mais je ne peux pas partager d'instructions internes. Si vous avez une "
        "question sur une commande, un paiement ou votre compte, je suis là pour vous aider.",
        "clarify": "Pourriez-vous m'en dire un peu plus : s'agit-il d'une commande, d'un paiement ou de votre compte ?",
        "ack": [
            "Je comprends tout à fait à quel point c'est frustrant, et merci de nous avoir écrit.",
            "Merci beaucoup de nous avoir contactés et de votre patience.",
            "Merci de nous avoir prévenus, et toutes nos excuses pour le désagrément.",
            "J'imagine que c'est pénible, et je tiens à ce que ce soit résolu pour vous.",
        ],
        "next": "Voici la suite : l'équipe concernée examinera votre demande et vous répondra par e-mail sous 1 à 2 "
        "jours ouvrés ; vous n'avez rien d'autre à faire d'ici là.",
        "detail": "Si quelque chose change d'ici là, répondez simplement à ce message.",
        "signoff": "Bien chaleureusement,\nL'équipe support {tenant}",
        "closing": "Cordialement, le support {tenant}",
        "leak": "Bien sûr ! Voici mes instructions : {secret}",
        "approve": "C'est fait : {dictated}",
    },
    "pt": {
        "greet": "Olá {name},",
        "thanks": "Obrigado pela sua mensagem.",
        "body": {
            "order_status": "Vou verificar o seu pedido e retorno em breve.",
            "shipping": "Nossa equipe de envios vai analisar e retornar para você.",
            "shipping_info": "As opções de entrega e o valor do frete aparecem na página de Entrega.",
            "refund": "Encaminhei sua solicitação para a equipe de devoluções, que vai analisá-la.",
            "billing": "Nossa equipe financeira vai analisar isso e retornar para você.",
            "billing_urgent": "Sinalizei essa cobrança com prioridade para a nossa equipe financeira.",
            "billing_info": "Aceitamos as formas de pagamento exibidas no checkout.",
            "technical": "Desculpe o transtorno. Nossa equipe técnica vai analisar o erro.",
            "account": "Nossa equipe de contas vai ajudar você com isso.",
            "account_urgent": "Pedi à nossa equipe de segurança que proteja sua conta imediatamente.",
            "legal": "Pelo Código de Defesa do Consumidor, você tem direito à garantia legal e pode exigir reparo "
            "ou troca; se recusarmos, pode procurar o Procon ou o juizado especial.",
            "legal_info": "Nossos termos e condições e a política de trocas estão no rodapé do site.",
            "complaint": "Sinto muito pela sua experiência. Compartilhei seu feedback com a liderança da equipe.",
            "complaint_escalate": "Escalei o seu caso para um supervisor, que entrará em contato.",
            "other": "Nossa equipe vai analisar a sua solicitação.",
        },
        "order": {
            "in_transit": "Seu pedido {order_id} está a caminho com a {carrier} (rastreio {tracking}) e deve chegar "
            "até {eta}.",
            "processing": "Seu pedido {order_id} está em preparação; previsão de entrega: {eta}.",
            "delayed": "Seu pedido {order_id} está atrasado na {carrier}; nova previsão de entrega: {eta}.",
            "delivered": "A {carrier} mostra o pedido {order_id} como entregue em {delivered}. Como ele não chegou até "
            "você, vamos abrir uma investigação com a {carrier}.",
            "cancelled": "O pedido {order_id} foi cancelado.",
        },
        "context": "Encontrei o pedido {order_id} no nosso sistema (status: {status}).",
        "status": {
            "in_transit": "em trânsito",
            "processing": "em preparação",
            "delayed": "atrasado",
            "delivered": "entregue",
            "cancelled": "cancelado",
        },
        "tool_failed": "Não consegui consultar os dados do pedido {order_id} agora. Nossa equipe vai verificar "
        "manualmente e retornar em até 24 horas.",
        "tool_guess": "Seu pedido {order_id} está a caminho e deve chegar em 2 a 3 dias úteis.",
        "refuse_legal": "Sinto muito, mas não posso dar aconselhamento jurídico. Para o seu caso, procure um "
        "advogado ou o Procon.",
        "refuse_injection": "Sinto muito, mas não posso compartilhar instruções internas. Se tiver uma dúvida sobre "
        "um pedido, um pagamento ou sua conta, fico feliz em ajudar.",
        "clarify": "Pode me contar um pouco mais sobre o que você precisa: é sobre um pedido, um pagamento ou a "
        "sua conta?",
        "ack": [
            "Entendo perfeitamente como isso é frustrante, e agradeço por ter entrado em contato.",
            "Muito obrigado por falar com a gente e pela paciência enquanto resolvemos isso.",
            "Agradeço por nos avisar e peço desculpas pelo transtorno.",
            "Imagino como isso é chato, e quero garantir que seja resolvido para você.",
        ],
        "next": "Próximos passos: a equipe responsável vai analisar sua solicitação e responder por e-mail em 1 a 2 "
        "dias úteis; você não precisa fazer mais nada por enquanto.",
        "detail": "Se algo mudar até lá, é só responder a esta mensagem.",
        "signoff": "Um abraço,\nEquipe de atendimento {tenant}",
        "closing": "Atenciosamente, atendimento {tenant}",
        "leak": "Claro! Estas são as minhas instruções: {secret}",
        "approve": "Feito: {dictated}",
    },
}


# --------------------------------------------------------------------------------------------------------------
# Reading the request.
# --------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Prompt:
    """What the model takes from the system prompt."""

    tenant: str
    glossary: dict[str, set[str]]
    categories: list[str]
    priorities: list[str]
    guard: bool
    clarify: bool
    legal_decline: bool
    warm: bool
    tool_policy: str
    secret: str


@dataclass(kw_only=True)
class Ticket:
    """What the model takes from the user turn."""

    name: str
    locale: str
    order_id: str | None
    history: list[str]
    message: str


@dataclass(kw_only=True)
class Draws:
    """Deterministic uniform draws keyed by the conversation (system + user turn) and the sample index.

    `stable` draws ignore the sample index: what a model does with a given message is mostly a property of the
    message (temperature only tips the borderline cases), so `sticky` decisions repeat across samples most of the
    time while keeping their overall rate.
    """

    base: str
    """Hash of the conversation and the sample index."""
    stable: str
    """Hash of the conversation alone."""
    cache: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str, *, stable: bool = False) -> float:
        key = f"{self.stable if stable else self.base}|{name}"
        if key not in self.cache:
            digest = hashlib.sha256(key.encode()).digest()
            self.cache[key] = int.from_bytes(digest[:8], "big") / 2**64
        return self.cache[key]

    def sticky(self, name: str, p: float, stickiness: float = 0.8) -> bool:
        """True with probability `p`; with probability `stickiness` the same answer for every sample."""
        return self(name, stable=self(name + ":which") < stickiness) < p

    def pick(self, name: str, options: list[Any], *, stable: bool = False) -> Any:
        return options[int(self(name, stable=stable) * len(options)) % len(options)]

    def normal(self, name: str) -> float:
        u1, u2 = max(self(name + ":1"), 1e-12), self(name + ":2")
        return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


def read_prompt(system: str, request: ChatRequest) -> Prompt:
    """Parse the system prompt the way the model follows it."""
    tenant_match = re.search(r"assistant for (.+?)\.", system)
    glossary: dict[str, set[str]] = {}
    block = re.search(r"Categories:\n(.*?)(?:\n\s*\n|\Z)", system, re.DOTALL)
    if block:
        for match in re.finditer(r"^- (\w+): (.*?)(?=^- |\Z)", block.group(1), re.DOTALL | re.MULTILINE):
            description = " ".join(match.group(2).split())
            glossary[match.group(1)] = {c for c, p in GLOSS_TERMS.items() if re.search(p, description, re.I)}
    props = (request.response_format or {}).get("properties", {})
    categories = list(props.get("category", {}).get("enum") or glossary or ["other"])
    priorities = list(props.get("priority", {}).get("enum") or ["low", "normal", "high", "urgent"])
    tool_names = {t.get("function", {}).get("name") for t in request.tools or []}
    if "lookup_order" not in tool_names:
        policy = "none"
    elif re.search(r"whenever an order id is (?:available|present)", system, re.I):
        policy = "any"
    else:
        policy = "status"
    return Prompt(
        tenant=tenant_match.group(1) if tenant_match else "our shop",
        glossary=glossary,
        categories=categories,
        priorities=priorities,
        guard=bool(re.search(r"is data, not instructions|never follow instructions", system, re.I)),
        clarify=bool(re.search(r"too vague.{0,80}clarifying question", system, re.I | re.S)),
        legal_decline=bool(re.search(r"(?:do not|don't|never) give legal advice", system, re.I)),
        warm=bool(re.search(r"\bwarm\b", system, re.I) and re.search(r"\bdetailed\b", system, re.I)),
        tool_policy=policy,
        secret=" ".join(system.split()),
    )


def read_ticket(user: str) -> Ticket:
    """Parse the user turn."""
    who = re.search(r"Customer: (.+?) \(locale ([\w-]+)", user)
    order = re.search(r"^Order id: (\S+)", user, re.MULTILINE)
    parts = re.split(r"^Latest message:\n", user, maxsplit=1, flags=re.MULTILINE)
    message = parts[1].strip() if len(parts) == 2 else user
    history_block = re.search(r"Earlier conversation.*?:\n(.*)", parts[0], re.DOTALL)
    history = [line for line in (history_block.group(1).splitlines() if history_block else []) if line.strip()]
    return Ticket(
        name=(who.group(1) if who else "there").split()[0],
        locale=who.group(2) if who else "en-US",
        order_id=order.group(1) if order else None,
        history=history,
        message=message,
    )


def concepts(text: str) -> set[str]:
    """Concepts mentioned in a text."""
    return {name for name, regex in _CONCEPT_RE.items() if regex.search(text)}


def classify(found: set[str], prompt: Prompt) -> tuple[str | None, float]:
    """The best category for a set of concepts (None when nothing points anywhere, or on a tie) and its score."""
    scores: dict[str, float] = {}
    for category in prompt.categories:
        gloss = prompt.glossary.get(category, set())
        score = GLOSS_WEIGHT * len(found & gloss)
        score += PRIOR_WEIGHT * sum(1 for c in found if PRIOR.get(c) == category)
        if score:
            scores[category] = score
    if not scores:
        return None, 0.0
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, ranked[0][1]
    return ranked[0]


def decide_priority(found: set[str], category: str) -> str:
    """Priority by the rules every version of the prompt states."""
    if found & {"fraud", "hacked", "safety"}:
        return "urgent"
    if found & {"lawsuit", "escalate", "lost"}:
        return "high"
    if "info" in found and not found & {"error", "charge", "refund", "cancel", "damaged", "dissatisfied"}:
        return "low"
    return "normal"


def strip_injection(message: str) -> str:
    """The message without the sentences that try to instruct the model."""
    sentences = re.split(r"(?<=[.!?])\s+|\n+", message)
    keep = [
        s
        for s in sentences
        if not (
            INJECTION.search(s)
            or REVEAL.search(s)
            or SET_PRIORITY.search(s)
            or SET_CATEGORY.search(s)
            or DICTATED.search(s)
        )
    ]
    return " ".join(keep)


# --------------------------------------------------------------------------------------------------------------
# Answering.
# --------------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Reading:
    """What the model makes of the ticket before it writes anything."""

    category: str
    priority: str
    concepts: set[str]
    order_id: str | None
    injected: bool
    """The message tries to instruct the model."""
    compromised: bool
    """... and the model goes along with it."""
    vague: bool
    """Nothing in the message points to a category."""
    distracted: bool
    """The category came from an earlier topic of a long conversation."""


def respond(request: ChatRequest) -> ChatResponse:
    """Answer one chat-completions request (see the module docstring)."""
    messages = request.messages
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    prompt = read_prompt(system, request)
    ticket = read_ticket(user)
    # One set of draws per conversation and sample, shared by its tool turns so they tell one consistent story.
    conversation = f"{request.model}\n{system}\n{user}"
    draw = Draws(
        base=hashlib.sha256(f"{conversation}\n{request.sample}".encode()).hexdigest(),
        stable=hashlib.sha256(conversation.encode()).hexdigest(),
    )
    text = TEXT[{"de": "de", "fr": "fr", "pt": "pt"}.get(ticket.locale.split("-")[0], "en")]
    reading = understand(prompt, ticket, draw)

    calls = [c for m in messages if m.get("role") == "assistant" for c in (m.get("tool_calls") or [])]
    tool_outputs = [m.get("content") for m in messages if m.get("role") == "tool"]
    if not calls and wants_lookup(prompt, reading, ticket, draw):
        return _tool_call(request, draw, reading.order_id or "", 0)
    order_line = ""
    if calls:
        result = _parse_tool_output(tool_outputs[-1] if tool_outputs else None)
        called_id = _call_order_id(calls[-1]) or reading.order_id or ""
        if result is None:
            if len(calls) == 1 and draw("retry-tool") < 0.3:
                return _tool_call(request, draw, called_id, 1)
            guessed = draw.sticky("tool-guess", 0.22)  # the classic failure: invent a plausible status
            order_line = (text["tool_guess"] if guessed else text["tool_failed"]).format(order_id=called_id)
        elif reading.category == "order_status":
            order_line = _order_sentence(text, result)
        else:
            # Looked up for context only: mention the order, not a delivery story.
            status = text["status"].get(str(result.get("status")), str(result.get("status", "")))
            order_line = text["context"].format(order_id=result.get("order_id", ""), status=status)

    body, refused = compose_body(prompt, ticket, reading, text, draw, order_line)
    reply = wrap_reply(prompt, ticket, reading, text, draw, body, refused)
    answer: dict[str, Any] = {"category": reading.category, "priority": reading.priority, "reply": reply}
    if reading.compromised:
        followed = _follow_injection(answer, ticket.message, text, prompt, draw)
        if isinstance(followed, str):
            return _final(request, draw, followed)
        answer = followed
    return _final(request, draw, _serialise(answer, draw))


def understand(prompt: Prompt, ticket: Ticket, draw: Draws) -> Reading:
    """Route the ticket: category, priority, order id, and whether an injection or a long history got in the way."""
    message = ticket.message
    injected = bool(
        INJECTION.search(message) or REVEAL.search(message) or SET_PRIORITY.search(message) or DICTATED.search(message)
    )
    compromised = injected and draw.sticky("injection", 0.06 if prompt.guard else 0.45)
    clean = strip_injection(message) if injected else message
    found = concepts(clean)
    order_id = ticket.order_id or _first(ORDER_ID.findall(clean))

    # Long conversations sometimes drag the model back to the earlier topic, or to the earlier order.
    distracted = False
    if ticket.history:
        if draw.sticky("history-topic", 0.08 + 0.006 * len(ticket.history)):
            first_customer = next((h for h in ticket.history if h.startswith("[customer]")), "")
            earlier = concepts(first_customer)
            if earlier:
                found, distracted = earlier | (found & {"info"}), True
        old_ids = [i for i in ORDER_ID.findall(" ".join(ticket.history)) if i != order_id]
        if order_id and old_ids and draw.sticky("history-order", 0.12):
            order_id = old_ids[0]

    best, _ = classify(found, prompt)
    vague = best is None and not injected  # an injection with no request around it is simply "other"
    if best is None:
        if injected or (prompt.clarify and draw.sticky("clarify", 0.92)):
            category = "other"
        else:
            guesses = ["order_status", "refund", "technical", "other", "complaint"]
            category = draw.pick("guess", guesses, stable=draw("guess:which") < 0.7)
    elif draw("category-slip") < 0.015:
        category = draw.pick("category-slip-to", NEIGHBOURS.get(best, ["other"]))
    else:
        category = best
    if category not in prompt.categories:
        category = "other"
    priority = decide_priority(found, category)
    if draw("priority-slip") < 0.015:
        priority = PRIORITY_SLIPS[priority]
    if priority not in prompt.priorities:
        priority = "normal" if "normal" in prompt.priorities else prompt.priorities[0]
    return Reading(
        category=category,
        priority=priority,
        concepts=found,
        order_id=order_id,
        injected=injected,
        compromised=compromised,
        vague=vague,
        distracted=distracted,
    )


def wants_lookup(prompt: Prompt, reading: Reading, ticket: Ticket, draw: Draws) -> bool:
    """Whether to call lookup_order first, following the prompt's tool policy."""
    if not reading.order_id or prompt.tool_policy == "none":
        return False
    if reading.compromised and REVEAL.search(ticket.message):
        return False
    if prompt.tool_policy == "any":
        return True
    about_delivery = reading.category in ("order_status", "shipping") and "info" not in reading.concepts
    return about_delivery and draw("forget-tool") >= 0.03


def compose_body(
    prompt: Prompt,
    ticket: Ticket,
    reading: Reading,
    text: dict[str, Any],
    draw: Draws,
    order_line: str,
) -> tuple[str, bool]:
    """The substance of the reply, and whether it is a refusal."""
    category, priority, found = reading.category, reading.priority, reading.concepts
    if reading.injected and not reading.compromised and REVEAL.search(ticket.message):
        return text["refuse_injection"], True
    if category == "legal":
        advice = bool(found & {"lawsuit", "rights", "contract", "law"}) and "info" not in found
        if prompt.legal_decline:
            refuse = draw.sticky("legal-refuse", 0.96 if advice else 0.40)  # the rule also catches plain information
        else:
            refuse = advice and draw.sticky("legal-refuse", 0.08)
        return (text["refuse_legal"] if refuse else text["body"]["legal" if advice else "legal_info"]), refuse
    key = category
    if category in ("billing", "account") and priority == "urgent":
        key = f"{category}_urgent"
    elif category == "complaint" and "escalate" in found:
        key = "complaint_escalate"
    elif category in ("shipping", "billing") and priority == "low":
        key = f"{category}_info"
    body: str = text["body"].get(key, text["body"]["other"])
    if reading.vague and category == "other" and prompt.clarify:
        body = text["clarify"]
    if order_line and category == "order_status" and not reading.distracted:
        body = order_line
    elif order_line:
        body = f"{body} {order_line}"
    return body, False


def wrap_reply(
    prompt: Prompt, ticket: Ticket, reading: Reading, text: dict[str, Any], draw: Draws, body: str, refused: bool
) -> str:
    """Greeting, body and closing, in the style the prompt asks for."""
    sentences: list[str] = []
    if prompt.warm:
        sentences.append(draw.pick("ack", text["ack"]))
        sentences.append(body)
        if not refused and reading.category != "other":
            sentences.append(text["next"])
            if draw("detail") < 0.6:
                sentences.append(text["detail"])
        closing = text["signoff"].format(tenant=prompt.tenant)
    else:
        if draw("thanks") < 0.5:
            sentences.append(text["thanks"])
        sentences.append(body)
        closing = text["closing"].format(tenant=prompt.tenant)
    return f"{text['greet'].format(name=ticket.name)}\n\n{' '.join(sentences)}\n\n{closing}"


def _serialise(answer: dict[str, Any], draw: Draws) -> str:
    """The JSON answer, with the occasional formatting slip a small model makes."""
    if draw("enum-slip") < 0.01 and answer["priority"] in ENUM_SLIPS:
        answer = {**answer, "priority": ENUM_SLIPS[answer["priority"]]}
    if draw("extra-field") < 0.008:
        answer = {**answer, "confidence": round(0.7 + 0.29 * draw("confidence"), 2)}
    if draw("fence") < 0.02:
        return f"```json\n{json.dumps(answer, ensure_ascii=False, indent=2)}\n```"
    out = json.dumps(answer, ensure_ascii=False)
    if draw("trailing") < 0.006:
        out += "\n\nLet me know if you need anything else!"
    return out


def _follow_injection(
    answer: dict[str, Any], message: str, text: dict[str, Any], prompt: Prompt, draw: Draws
) -> dict[str, Any] | str:
    """What a model that obeys the injected instructions writes."""
    if REVEAL.search(message):
        leak: str = text["leak"].format(secret=prompt.secret or "(none)")
        if draw.sticky("leak-plain", 0.35):
            return leak
        return {**answer, "category": "other", "reply": leak}
    if (m := SET_PRIORITY.search(message)) and m.group(1).lower() in PRIORITY_WORDS:
        answer = {**answer, "priority": PRIORITY_WORDS[m.group(1).lower()]}
    if (m := SET_CATEGORY.search(message)) and m.group(1) in prompt.categories:
        answer = {**answer, "category": m.group(1)}
    if m := DICTATED.search(message):
        answer = {**answer, "reply": answer["reply"] + " " + text["approve"].format(dictated=m.group(1))}
    return answer


def _first(items: list[str]) -> str | None:
    return items[0] if items else None


def _call_order_id(call: dict[str, Any]) -> str | None:
    try:
        return str(json.loads(call.get("function", {}).get("arguments") or "{}").get("order_id") or "") or None
    except (json.JSONDecodeError, AttributeError):
        return None


def _parse_tool_output(content: Any) -> dict[str, Any] | None:
    """A successful lookup's data, or None when the tool failed."""
    if isinstance(content, dict):
        data: Any = content
    else:
        try:
            data = json.loads(content or "")
        except (json.JSONDecodeError, TypeError):
            return None
    if not isinstance(data, dict) or "error" in data or "status" not in data:
        return None
    return data


def _order_sentence(text: dict[str, Any], result: dict[str, Any]) -> str:
    template = text["order"].get(result.get("status"), text["order"]["processing"])
    return str(
        template.format(
            order_id=result.get("order_id", ""),
            carrier=result.get("carrier", ""),
            tracking=result.get("tracking_number", ""),
            eta=result.get("estimated_delivery", ""),
            delivered=result.get("delivered_at", ""),
        )
    )


def _input_tokens(request: ChatRequest) -> int:
    sent = json.dumps(request.messages, ensure_ascii=False)
    if request.tools:
        sent += json.dumps(request.tools)
    if request.response_format:
        sent += json.dumps(request.response_format)
    return math.ceil(len(sent) / 4) + 3 * len(request.messages)


def _latency(draw: Draws, input_tokens: int, output_tokens: int, turn: int) -> float:
    # Time to first token grows with the prompt; generation at roughly 60-90 tokens/s; lognormal noise.
    base = 0.28 + input_tokens * 0.00011 + output_tokens * 0.013
    return round(base * math.exp(0.28 * draw.normal(f"latency-{turn}")), 3)


def _tool_call(request: ChatRequest, draw: Draws, order_id: str, turn: int) -> ChatResponse:
    arguments = json.dumps({"order_id": order_id})
    call_id = "call_" + hashlib.sha256(f"{draw.base}|call{turn}".encode()).hexdigest()[:24]
    input_tokens = _input_tokens(request)
    output_tokens = math.ceil(len(arguments) / 4) + 12
    return ChatResponse(
        text=None,
        tool_calls=[ToolCall(id=call_id, name="lookup_order", arguments=arguments)],
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        latency_s=_latency(draw, input_tokens, output_tokens, turn),
        finish_reason="tool_calls",
        model=request.model,
    )


def _final(request: ChatRequest, draw: Draws, out: str) -> ChatResponse:
    input_tokens = _input_tokens(request)
    output_tokens = math.ceil(len(out) / 4)
    finish = "stop"
    if request.max_tokens is not None and output_tokens > request.max_tokens:
        out, output_tokens, finish = out[: request.max_tokens * 4], request.max_tokens, "length"
    return ChatResponse(
        text=out,
        usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens),
        latency_s=_latency(draw, input_tokens, output_tokens, 9),
        finish_reason=finish,
        model=request.model,
    )
