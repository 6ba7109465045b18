#include "servers/uart/console_mux.h"

#include <new>

namespace hyp::server {

void ConsoleMux::start(const ipc::ServerInfo& info, ConsoleState* state, bool resumed, Wire* wire, bool raw) {
  info_ = &info;
  wire_ = wire;
  raw_ = raw;
  state_ = state;
  if (!resumed) {
    state_ = new (state) ConsoleState{};
    state_->open_line = -1;
  }
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
  if (info_->device_count == 0) return;
  Pl011& focus = state_->uarts[0];
  uint8_t byte = 0;
  while (focus.receive_space() > 0 && wire_->get(byte)) (void)focus.receive(byte);
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
}

void ConsoleMux::print_line(const char* text, size_t length) {
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
