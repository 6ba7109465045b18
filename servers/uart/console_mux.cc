#include "servers/uart/console_mux.h"

#include <new>

namespace hyp::server {

void ConsoleMux::start(const ipc::ServerInfo& info, ConsoleState* state, bool resumed, Wire* wire,
                       control::Backend* backend, bool raw) {
  info_ = &info;
  wire_ = wire;
  backend_ = backend;
  raw_ = raw;
  monitor_out_.mux = this;
  prompt_shown_ = false;
  state_ = state;
  if (!resumed) {
    state_ = new (state) ConsoleState{};
    state_->open_line = -1;
  }
  // A focus the server's clients no longer include (a state page from an
  // instance with other clients, or one gone bad) is the first client; a
  // line length past the line is no line.
  MonitorState& m = state_->monitor;
  if (m.focus >= info_->device_count || m.focus >= ipc::kMaxServerDevices) m.focus = 0;
  if (m.length > sizeof(m.line)) m.length = 0;
  // The previous instance's ports were its own; bytes it left in a FIFO (it
  // failed between taking a write and sending the byte) go out now.
  for (uint32_t i = 0; i < ipc::kMaxServerDevices; ++i) {
    ports_[i].mux = this;
    ports_[i].index = i;
    state_->uarts[i].attach(&ports_[i]);
  }
}

MmioDevice* ConsoleMux::device(uint32_t index) {
  return index < info_->device_count && index < ipc::kMaxServerDevices ? &state_->uarts[index] : nullptr;
}

void ConsoleMux::poll() {
  MonitorState& m = state_->monitor;
  // The common case first, as cheap as it can be: input for the focus,
  // which has room, and none waiting.
  if (m.open == 0 && m.pending == 0 && info_->device_count != 0) [[likely]] {
    Pl011& focus = state_->uarts[m.focus];
    uint8_t byte = 0;
    for (;;) {
      if (focus.receive_space() == 0) break;
      if (!wire_->get(byte)) return;
      if (byte == kEscape) {
        open_monitor();
        break;
      }
      (void)focus.receive(byte);
    }
  }
  for (;;) {
    const bool has_focus = info_->device_count != 0;
    Pl011* focus = has_focus ? &state_->uarts[m.focus] : nullptr;
    if (m.pending != 0) {
      // Held for a focus that had no room: it goes first, when there is.
      if (focus != nullptr && focus->receive_space() == 0) return;
      if (focus != nullptr) (void)focus->receive(m.byte);
      m.pending = 0;
    }
    uint8_t byte = 0;
    if (!wire_->get(byte)) return;
    if (byte == kEscape) {
      if (m.open != 0) {
        close_monitor();
      } else {
        open_monitor();
      }
    } else if (m.open != 0) {
      monitor_key(byte);
    } else if (focus != nullptr && focus->receive_space() > 0) {
      (void)focus->receive(byte);
    } else if (focus != nullptr) {
      m.byte = byte;
      m.pending = 1;
    }
  }
}

void ConsoleMux::MonitorOutput::write(const char* text, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    if (text[i] == '\n') mux->put('\r');
    mux->put(text[i]);
  }
}

void ConsoleMux::show_prompt() {
  if (prompt_shown_) return;
  end_open_line();
  puts("hyp> ");
  const MonitorState& m = state_->monitor;
  for (uint32_t i = 0; i < m.length && i < sizeof(m.line); ++i) put(m.line[i]);
  prompt_shown_ = true;
}

void ConsoleMux::end_prompt() {
  if (!prompt_shown_) return;
  prompt_shown_ = false;
  if (state_->monitor.length == 0) {
    // Nothing typed: the prompt is wiped, and comes back under what prints.
    puts("\r     \r");
    return;
  }
  put('\r');
  put('\n');
}

void ConsoleMux::open_monitor() {
  MonitorState& m = state_->monitor;
  m.open = 1;
  m.length = 0;
  m.last = 0;
  end_open_line();
  monitor_out_.print("hyp: monitor (help lists the commands; Ctrl-] or exit returns input to %s)\n",
                     info_->device_count != 0 ? info_->client[m.focus] : "nobody");
  show_prompt();
}

void ConsoleMux::close_monitor() {
  MonitorState& m = state_->monitor;
  end_prompt();
  m.open = 0;
  m.length = 0;
  monitor_out_.print("hyp: input to %s\n", info_->device_count != 0 ? info_->client[m.focus] : "nobody");
}

void ConsoleMux::monitor_key(uint8_t key) {
  MonitorState& m = state_->monitor;
  const uint8_t last = m.last;
  m.last = key;
  if (key == '\n' && last == '\r') return;  // the second half of one line end
  show_prompt();
  if (key == '\r' || key == '\n') {
    run_line();
    return;
  }
  if (key == 0x7f || key == 0x08) {  // backspace
    if (m.length == 0) return;
    --m.length;
    puts("\b \b");
    return;
  }
  if (key == 0x03 || key == 0x15) {  // Ctrl-C, Ctrl-U: the line is dropped
    m.length = 0;
    end_prompt();
    show_prompt();
    return;
  }
  if (key < 0x20 || key > 0x7e || m.length >= sizeof(m.line)) return;
  m.line[m.length++] = static_cast<char>(key);
  put(static_cast<char>(key));
}

void ConsoleMux::run_line() {
  MonitorState& m = state_->monitor;
  char line[sizeof(m.line)];
  const size_t length = m.length < sizeof(line) ? m.length : sizeof(line);
  __builtin_memcpy(line, m.line, length);
  // The line typed stays on the console, ended as the key said.
  if (prompt_shown_) {
    put('\r');
    put('\n');
    prompt_shown_ = false;
  }
  m.length = 0;
  const control::Outcome o = control::run_command(line, length, *backend_, monitor_out_, control::Format::kText, true);
  if (o.kind == control::Outcome::Kind::kLeave) {
    close_monitor();
    return;
  }
  if (o.kind == control::Outcome::Kind::kConsole) {
    uint32_t found = info_->device_count;
    for (uint32_t i = 0; i < info_->device_count && i < ipc::kMaxServerDevices; ++i) {
      const char* a = info_->client[i];
      const char* b = o.target;
      size_t k = 0;
      while (k < ipc::kMaxClientName && a[k] != '\0' && a[k] == b[k]) ++k;
      if (k == ipc::kMaxClientName ? b[k] == '\0' : a[k] == b[k]) found = i;
    }
    if (found == info_->device_count) {
      monitor_out_.print("error: no guest %s on this console\n", o.target);
    } else {
      m.focus = found;
      monitor_out_.print("input goes to %s when the monitor closes\n", info_->client[found]);
    }
  }
  show_prompt();
}

void ConsoleMux::log_line(const char* text, size_t length) {
  if (raw_ && state_->open_line >= 0 && state_->held_count < kHeldLines) {
    ipc::LogLine& held = state_->held[state_->held_count++];
    held.length = static_cast<uint16_t>(length < sizeof(held.text) ? length : sizeof(held.text));
    __builtin_memcpy(held.text, text, held.length);
    return;
  }
  print_held();
  print_line(text, length);
  if (state_->monitor.open != 0) show_prompt();
}

void ConsoleMux::print_line(const char* text, size_t length) {
  end_prompt();
  end_open_line();
  for (size_t i = 0; i < length; ++i) put(text[i]);
  put('\r');
  put('\n');
}

void ConsoleMux::print_held() {
  const uint32_t n = state_->held_count < kHeldLines ? state_->held_count : kHeldLines;
  state_->held_count = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const ipc::LogLine& held = state_->held[i];
    print_line(held.text, held.length < sizeof(held.text) ? held.length : sizeof(held.text));
  }
}

void ConsoleMux::end_open_line() {
  if (state_->open_line < 0) return;
  put('\r');
  put('\n');
  state_->open_line = -1;
}

void ConsoleMux::guest_byte(uint32_t device, uint8_t byte) {
  end_prompt();
  if (raw_) {
    if (state_->open_line != static_cast<int32_t>(device)) end_open_line();
    put(static_cast<char>(byte));
    state_->open_line = byte == '\n' ? -1 : static_cast<int32_t>(device);
    if (byte == '\n') print_held();
    return;
  }
  if (byte == '\r') return;
  if (state_->open_line != static_cast<int32_t>(device)) {
    end_open_line();
    const char* name = info_->client[device];
    for (size_t i = 0; i < ipc::kMaxClientName && name[i] != '\0'; ++i) put(name[i]);
    put('|');
    put(' ');
    state_->open_line = static_cast<int32_t>(device);
  }
  if (byte == '\n') {
    put('\r');
    put('\n');
    state_->open_line = -1;
    return;
  }
  put(static_cast<char>(byte));
}

}  // namespace hyp::server
