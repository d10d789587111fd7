// Playground web chat: talks to the fake Bot API's /playground/api endpoints.
// Bot text arrives as plain text plus entities, and is rendered with DOM nodes and
// textContent only, so no HTML from the bot is ever parsed by the browser.
"use strict";

const state = {
  bot: null,
  users: [],
  chats: [],
  userId: null,
  chatId: null,
  revision: 0,
  messages: new Map(),
  poll: null,
  inlineTimer: null,
};

const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function isWebUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url);
}

function showToast(text, alert) {
  const toast = $("toast");
  toast.textContent = text;
  toast.className = alert ? "toast alert" : "toast";
  toast.hidden = false;
  clearTimeout(showToast.timer);
  showToast.timer = setTimeout(() => { toast.hidden = true; }, alert ? 6000 : 3000);
}

// Entities

const ENTITY_TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  blockquote: "blockquote", expandable_blockquote: "blockquote",
};

function entityNode(entity, text) {
  if (entity.type === "text_link" || entity.type === "url") {
    const href = entity.type === "url" ? text : entity.url;
    if (!isWebUrl(href)) return element("span");
    const link = element("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  if (entity.type === "spoiler") {
    const spoiler = element("span", "spoiler");
    spoiler.addEventListener("click", () => spoiler.classList.add("revealed"));
    return spoiler;
  }
  return element(ENTITY_TAGS[entity.type] || "span");
}

// Offsets are UTF-16 code units, which is how JavaScript strings index too.
function appendFormatted(parent, text, entities, start, end) {
  let position = start;
  for (const entity of entities) {
    if (entity.offset < position || entity.offset >= end) continue;
    if (entity.offset > position) parent.append(text.slice(position, entity.offset));
    const entityEnd = Math.min(entity.offset + entity.length, end);
    const node = entityNode(entity, text.slice(entity.offset, entityEnd));
    const inner = entities.filter((other) => other !== entity &&
      other.offset >= entity.offset && other.offset + other.length <= entityEnd);
    appendFormatted(node, text, inner, entity.offset, entityEnd);
    parent.append(node);
    position = entityEnd;
  }
  if (position < end) parent.append(text.slice(position, end));
}

function formatted(className, text, entities) {
  const node = element("div", className);
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  appendFormatted(node, text, sorted, 0, text.length);
  return node;
}

// Messages

function mediaNode(message) {
  if (message.photo && message.photo.length) {
    const size = message.photo.at(-1);
    const image = element("img");
    // Known dimensions reserve the space before the file loads, so scrolling to the
    // newest message lands at the real bottom.
    if (size.width && size.height) {
      image.width = size.width;
      image.height = size.height;
    }
    image.addEventListener("load", keepScrolledToBottom);
    image.src = `/playground/files/${encodeURIComponent(size.file_id)}`;
    image.alt = "photo";
    return image;
  }
  if (message.video) {
    const video = element("video");
    video.addEventListener("loadedmetadata", keepScrolledToBottom);
    video.src = `/playground/files/${encodeURIComponent(message.video.file_id)}`;
    video.controls = true;
    return video;
  }
  if (message.document) {
    const link = element("a", null, message.document.file_name || "document");
    link.href = `/playground/files/${encodeURIComponent(message.document.file_id)}`;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  return null;
}

function serviceText(message) {
  if (message.migrate_to_chat_id) return `Group upgraded to a supergroup (${message.migrate_to_chat_id})`;
  if (message.migrate_from_chat_id) return `Supergroup created from group ${message.migrate_from_chat_id}`;
  return null;
}

function keyboardNode(message) {
  const rows = message.reply_markup && message.reply_markup.inline_keyboard;
  if (!Array.isArray(rows)) return null;
  const keyboard = element("div", "keyboard");
  for (const row of rows) {
    const rowNode = element("div", "keyboard-row");
    for (const button of row) rowNode.append(buttonNode(message, button));
    keyboard.append(rowNode);
  }
  return keyboard;
}

// A t.me link to this bot (https://t.me/<bot>?start=<payload>) would leave the playground,
// so it opens the private chat here and sends "/start <payload>" as Telegram apps do.
function botDeepLink(url) {
  if (!state.bot) return null;
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const path = parsed.pathname.replace(/^\/+|\/+$/g, "");
  if (parsed.hostname !== "t.me" || path.toLowerCase() !== state.bot.username.toLowerCase()) {
    return null;
  }
  return {start: parsed.searchParams.get("start")};
}

async function followBotDeepLink(deepLink) {
  if (state.userId === null) return;
  openChat(state.userId);
  await sendText(deepLink.start ? `/start ${deepLink.start}` : "/start");
}

function buttonNode(message, button) {
  const deepLink = button.url !== undefined ? botDeepLink(button.url) : null;
  if (deepLink) {
    const node = element("button", null, button.text);
    node.type = "button";
    node.addEventListener("click", () => followBotDeepLink(deepLink));
    return node;
  }
  if (button.url !== undefined) {
    const link = element("a", null, button.text);
    if (isWebUrl(button.url)) link.href = button.url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    return link;
  }
  const node = element("button", null, button.text);
  node.type = "button";
  if (button.callback_data !== undefined) {
    node.addEventListener("click", () => pressButton(message, button.callback_data));
  } else if (button.switch_inline_query !== undefined ||
             button.switch_inline_query_current_chat !== undefined) {
    const query = button.switch_inline_query ?? button.switch_inline_query_current_chat;
    node.addEventListener("click", () => {
      $("text-input").value = `@${state.bot.username} ${query}`;
      $("text-input").focus();
      scheduleInlineQuery();
    });
  } else {
    node.disabled = true;
  }
  return node;
}

function messageNode(message) {
  const own = message.from && message.from.id === state.userId;
  const service = serviceText(message);
  let className = "message";
  if (service) className = "message service";
  else if (own) className = "message own";
  const node = element("div", className);
  node.dataset.messageId = message.message_id;
  if (service) {
    node.textContent = service;
    return node;
  }
  const sender = message.from ? message.from.first_name : "";
  const via = message.via_bot ? ` via @${message.via_bot.username}` : "";
  node.append(element("div", "sender", sender + via));
  const media = mediaNode(message);
  if (media) {
    const holder = element("div", "media");
    holder.append(media);
    node.append(holder);
  }
  if (message.text !== undefined) node.append(formatted("text", message.text, message.entities));
  if (message.caption) node.append(formatted("caption", message.caption, message.caption_entities));
  if (message.edit_date) node.append(element("span", "edited", "edited"));
  const keyboard = keyboardNode(message);
  if (keyboard) node.append(keyboard);
  return node;
}

// Set by renderMessages: whether the view followed the newest message when it last drew.
let followNewest = true;

function keepScrolledToBottom() {
  const container = $("messages");
  if (followNewest) container.scrollTop = container.scrollHeight;
}

// Consecutive messages sharing a media_group_id are drawn as one album grid.
function renderMessages() {
  const container = $("messages");
  const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  followNewest = nearBottom;
  container.replaceChildren();
  const ordered = [...state.messages.values()].sort((a, b) => a.message_id - b.message_id);
  let album = null;
  for (const message of ordered) {
    if (message.media_group_id && album && album.groupId === message.media_group_id) {
      album.grid.append(mediaNode(message));
      if (message.caption) album.node.append(formatted("caption", message.caption, message.caption_entities));
      continue;
    }
    const node = messageNode(message);
    album = null;
    if (message.media_group_id) {
      const grid = element("div", "album");
      const media = node.querySelector(".media");
      if (media) grid.append(...media.childNodes);
      if (media) media.replaceWith(grid);
      album = {groupId: message.media_group_id, grid, node};
    }
    container.append(node);
  }
  if (nearBottom) container.scrollTop = container.scrollHeight;
}

// History polling

async function pollHistory(chatId, controller) {
  while (!controller.signal.aborted && state.chatId === chatId) {
    try {
      const path = `/playground/api/chats/${chatId}/messages?since=${state.revision}&wait=20`;
      const response = await fetch(path, {signal: controller.signal});
      const data = await response.json();
      if (state.chatId !== chatId) return;
      for (const entry of data.messages) {
        if (entry.deleted) state.messages.delete(entry.message.message_id);
        else state.messages.set(entry.message.message_id, entry.message);
      }
      state.revision = data.revision;
      if (data.messages.length) renderMessages();
    } catch (error) {
      if (controller.signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function openChat(chatId) {
  if (state.poll) state.poll.abort();
  state.chatId = chatId;
  state.revision = 0;
  state.messages.clear();
  renderMessages();
  const chat = state.chats.find((candidate) => candidate.id === chatId);
  $("chat-title").textContent = chat ? chatLabel(chat) : "";
  renderChatList();
  state.poll = new AbortController();
  pollHistory(chatId, state.poll);
}

// Sidebar

function chatLabel(chat) {
  if (chat.type === "private") return `Private chat with @${state.bot.username}`;
  return chat.title;
}

function renderChatList() {
  const list = $("chat-list");
  list.replaceChildren();
  const visible = state.chats.filter((chat) => (chat.type === "private"
    ? chat.id === state.userId : chat.members.includes(state.userId) && !chat.migrated_to));
  for (const chat of visible) {
    const button = element("button", chat.id === state.chatId ? "active" : "", chatLabel(chat));
    button.type = "button";
    button.append(element("small", null, `${chat.type} · ${chat.id}`));
    button.addEventListener("click", () => openChat(chat.id));
    const item = element("li");
    item.append(button);
    list.append(item);
  }
}

function renderCommands(commands) {
  const holder = $("commands");
  holder.replaceChildren();
  for (const command of commands) {
    const button = element("button", null, `/${command.command}`);
    button.type = "button";
    button.title = command.description;
    button.addEventListener("click", () => sendText(`/${command.command}`));
    holder.append(button);
  }
}

async function loadState() {
  const data = await api("/playground/api/state");
  state.bot = data.bot;
  state.users = data.users;
  state.chats = data.chats;
  $("bot-name").textContent = `@${data.bot.username}`;
  const select = $("user-select");
  if (!select.options.length) {
    for (const user of data.users) {
      const option = element("option", null, user.first_name + (user.username ? ` (@${user.username})` : ""));
      option.value = user.id;
      select.append(option);
    }
    state.userId = data.users.length ? data.users[0].id : null;
  }
  renderCommands(data.commands);
  renderChatList();
}

// Actions

async function sendText(text) {
  if (state.chatId === null || state.userId === null) return;
  try {
    await api("/playground/api/messages", {user_id: state.userId, chat_id: state.chatId, text});
    await loadState();
  } catch (error) {
    showToast(error.message, true);
  }
}

async function pressButton(message, data) {
  try {
    const result = await api("/playground/api/callback", {
      user_id: state.userId, chat_id: state.chatId, message_id: message.message_id, data,
    });
    if (result.answer && result.answer.text) showToast(result.answer.text, result.answer.show_alert);
  } catch (error) {
    showToast(error.message, true);
  }
}

function inlineQueryText() {
  if (!state.bot) return null;
  const value = $("text-input").value;
  const prefix = `@${state.bot.username}`;
  if (!value.toLowerCase().startsWith(prefix.toLowerCase())) return null;
  const rest = value.slice(prefix.length);
  if (rest && !rest.startsWith(" ")) return null;
  return rest.trim();
}

function scheduleInlineQuery() {
  clearTimeout(state.inlineTimer);
  const query = inlineQueryText();
  if (query === null) {
    $("inline-results").hidden = true;
    return;
  }
  state.inlineTimer = setTimeout(() => runInlineQuery(query), 400);
}

async function runInlineQuery(query) {
  const panel = $("inline-results");
  try {
    const result = await api("/playground/api/inline", {
      user_id: state.userId, chat_id: state.chatId, query,
    });
    if (inlineQueryText() !== query) return;
    renderInlineResults(result.answer);
  } catch (error) {
    panel.hidden = true;
    showToast(error.message, true);
  }
}

function renderInlineResults(answer) {
  const panel = $("inline-results");
  panel.replaceChildren();
  if (!answer) {
    panel.append(element("div", null, "The bot did not answer."));
    panel.hidden = false;
    return;
  }
  if (answer.button) {
    const button = element("button", "switch", answer.button.text);
    button.type = "button";
    button.addEventListener("click", () => {
      const parameter = answer.button.start_parameter;
      panel.hidden = true;
      $("text-input").value = "";
      openChat(state.userId);
      sendText(parameter ? `/start ${parameter}` : "/start");
    });
    panel.append(button);
  }
  for (const result of answer.results) panel.append(inlineResultNode(result));
  if (!answer.results.length && !answer.button) panel.append(element("div", null, "No results."));
  panel.hidden = false;
}

function inlineResultNode(result) {
  const button = element("button");
  button.type = "button";
  const thumbnail = result.thumbnail_url || result.photo_url;
  if (isWebUrl(thumbnail)) {
    const image = element("img");
    image.src = thumbnail;
    image.alt = result.title || "result";
    button.append(image);
  }
  if (result.title) button.append(element("div", null, result.title));
  if (result.description) button.append(element("small", null, result.description));
  if (!button.childNodes.length) button.append(element("div", null, result.type));
  button.addEventListener("click", () => chooseResult(result.id));
  return button;
}

async function chooseResult(resultId) {
  $("inline-results").hidden = true;
  $("text-input").value = "";
  try {
    await api("/playground/api/inline/choose", {
      user_id: state.userId, chat_id: state.chatId, result_id: resultId,
    });
  } catch (error) {
    showToast(error.message, true);
  }
}

// Start-up

document.addEventListener("DOMContentLoaded", async () => {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text-input").value.trim();
    if (!text || inlineQueryText() !== null) return;
    $("text-input").value = "";
    sendText(text);
  });
  $("text-input").addEventListener("input", scheduleInlineQuery);
  $("user-select").addEventListener("change", (event) => {
    state.userId = Number(event.target.value);
    openChat(state.userId);
  });
  await loadState();
  if (state.userId !== null) openChat(state.userId);
  setInterval(() => loadState().catch(() => {}), 5000);
});
