// fewerbits board wrapper: the stitched accelerator (fb_top) behind a UART.
//
// Protocol (fewerbits-uart/1; the driver's hw/driver/uart.py speaks it). Host -> board:
//   FB 01 n_lo n_hi <n frames of packed input>   RUN: n = 1..MAX_BATCH frames
//   FB 02                                        INFO
// Board -> host:
//   FB 81 n_lo n_hi <n frames of packed output> rx_xor tx_xor status
//   FB 82 <12 bytes: version, IN_BYTES, IN_WORDS, OUT_BYTES, OUT_WORDS, MAX_BATCH, CLKS_PER_BIT
//          as u16 little-endian>
// A packed frame is exactly the DMA buffer the driver fills: IN_WORDS words of IN_BYTES bytes,
// each word little-endian (byte k = in_tdata[8k+7:8k]). rx_xor / tx_xor are the XOR of the
// payload bytes received / sent, status the errors since the last reply (bit 0: input word
// lost, FIFO full; bit 1: framing error; bit 2: bad command or frame count; bit 3: a request
// arrived while a reply was being sent). A break (line low for >= 2 byte times) resets the
// wrapper and the accelerator; so does power-on.
// The output FIFO holds a whole batch (OUT_FIFO >= MAX_BATCH * OUT_WORDS), so within a RUN the
// accelerator is never back-pressured and consumes its input faster than the UART delivers it
// (checked when the wrapper is generated: hw/board/wrapper.py).
module fb_board #(
  parameter int CLKS_PER_BIT = 25,
  parameter int IN_BYTES = 1,
  parameter int IN_WORDS = 1,
  parameter int OUT_BYTES = 1,
  parameter int OUT_WORDS = 1,
  parameter int MAX_BATCH = 1,
  parameter int IN_FIFO = 16,
  parameter int OUT_FIFO = 16
) (
  input  logic       clk,
  input  logic       uart_rx,
  output logic       uart_tx,
  output logic [1:0] led   // 0: a RUN is in progress, 1: an error was reported
);
  localparam logic [7:0] SYNC = 8'hFB, RUN = 8'h01, INFO = 8'h02;
  localparam int VERSION = 1;
  localparam int INFO_LEN = 15;
  localparam int BRK_CYCLES = 20 * CLKS_PER_BIT;
  localparam int IBW = $clog2(IN_BYTES + 1), OBW = $clog2(OUT_BYTES + 1);

  // ---- reset: power-on and break ---------------------------------------------------------
  logic [4:0] por = '0;
  logic [$clog2(BRK_CYCLES + 1)-1:0] low = '0;
  logic rx_m = 1'b1, rx_s = 1'b1, brk = 1'b0, rst;
  always_ff @(posedge clk) begin
    rx_m <= uart_rx;
    rx_s <= rx_m;
    if (por != '1) por <= por + 1'b1;
    if (rx_s) begin
      low <= '0;
      brk <= 1'b0;
    end else if (low != BRK_CYCLES) low <= low + 1'b1;
    else brk <= 1'b1;
  end
  assign rst = (por != '1) || brk;

  // ---- UART ------------------------------------------------------------------------------
  logic [7:0] rx_data, tx_data;
  logic rx_valid, rx_ferr, tx_valid, tx_ready;
  fb_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT)) urx (
    .clk(clk), .rst(rst), .rx(uart_rx), .data(rx_data), .valid(rx_valid), .frame_err(rx_ferr));
  fb_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT)) utx (
    .clk(clk), .rst(rst), .data(tx_data), .valid(tx_valid), .ready(tx_ready), .tx(uart_tx));

  // ---- the accelerator between two FIFOs -------------------------------------------------
  logic [IN_BYTES*8-1:0] word_in, acc_idat;
  logic push, in_rdy, acc_ivld, acc_irdy;
  logic [OUT_BYTES*8-1:0] acc_odat, out_dat;
  logic acc_ovld, acc_ordy, out_vld, pop;
  fb_stream_fifo #(.WIDTH(IN_BYTES * 8), .DEPTH(IN_FIFO)) ififo (
    .clk(clk), .rst(rst), .idat(word_in), .ivld(push), .irdy(in_rdy),
    .odat(acc_idat), .ovld(acc_ivld), .ordy(acc_irdy));
  fb_top acc (
    .ap_clk(clk), .ap_rst_n(!rst),
    .in_tdata(acc_idat), .in_tvalid(acc_ivld), .in_tready(acc_irdy),
    .out_tdata(acc_odat), .out_tvalid(acc_ovld), .out_tready(acc_ordy));
  fb_stream_fifo #(.WIDTH(OUT_BYTES * 8), .DEPTH(OUT_FIFO)) ofifo (
    .clk(clk), .rst(rst), .idat(acc_odat), .ivld(acc_ovld), .irdy(acc_ordy),
    .odat(out_dat), .ovld(out_vld), .ordy(pop));

  // ---- receive: commands and input frames ------------------------------------------------
  typedef enum logic [2:0] {R_SYNC, R_CMD, R_NLO, R_NHI, R_DATA} rstate_t;
  rstate_t rs;
  logic [7:0] n_lo, rx_xor;
  logic [IBW-1:0] r_byte;
  logic r_word_end, r_batch_end;
  logic run_req, info_req;
  logic [15:0] run_n;
  logic [3:0] err;  // sticky until the next reply's status byte
  logic err_lost, err_cmd, err_busy, clear_err;
  wire [15:0] n_req = {rx_data, n_lo};
  wire n_ok = n_req != 0 && n_req <= 16'(MAX_BATCH);
  fb_frame_counter #(.BYTES(IN_BYTES), .WORDS(IN_WORDS)) rcount (
    .clk(clk), .rst(rst), .load(rx_valid && rs == R_NHI && n_ok), .n(n_req),
    .step(rx_valid && rs == R_DATA), .idx(r_byte), .word_end(r_word_end),
    .batch_end(r_batch_end));

  always_ff @(posedge clk) begin
    push <= 1'b0;
    run_req <= 1'b0;
    info_req <= 1'b0;
    err_cmd <= 1'b0;
    if (rst) rs <= R_SYNC;
    else if (rx_valid) begin
      case (rs)
        R_SYNC: if (rx_data == SYNC) rs <= R_CMD;
        R_CMD: begin
          rs <= R_SYNC;
          if (rx_data == RUN) rs <= R_NLO;
          else if (rx_data == INFO) info_req <= 1'b1;
          else err_cmd <= 1'b1;
        end
        R_NLO: begin
          n_lo <= rx_data;
          rs <= R_NHI;
        end
        R_NHI: begin
          run_req <= 1'b1;
          rx_xor <= '0;
          if (!n_ok) begin
            err_cmd <= 1'b1;
            run_n <= '0;
            rs <= R_SYNC;
          end else begin
            run_n <= n_req;
            rs <= R_DATA;
          end
        end
        R_DATA: begin
          word_in[r_byte*8+:8] <= rx_data;
          rx_xor <= rx_xor ^ rx_data;
          push <= r_word_end;
          if (r_batch_end) rs <= R_SYNC;
        end
        default: rs <= R_SYNC;
      endcase
    end
  end
  assign err_lost = push && !in_rdy;

  // ---- transmit: replies -----------------------------------------------------------------
  typedef enum logic [2:0] {T_IDLE, T_HDR, T_DATA, T_TRAIL, T_INFO} tstate_t;
  tstate_t ts;
  logic [4:0] t_idx;
  logic [15:0] t_n;
  logic [OBW-1:0] t_byte;
  logic t_word_end, t_batch_end;
  logic [7:0] tx_xor, hdr_byte, trail_byte, info_byte;
  wire fire = tx_valid && tx_ready;
  fb_frame_counter #(.BYTES(OUT_BYTES), .WORDS(OUT_WORDS)) tcount (
    .clk(clk), .rst(rst), .load(ts == T_IDLE && run_req), .n(run_n),
    .step(ts == T_DATA && fire), .idx(t_byte), .word_end(t_word_end),
    .batch_end(t_batch_end));

  always_comb begin
    case (t_idx[1:0])
      2'd0: hdr_byte = SYNC;
      2'd1: hdr_byte = 8'h81;
      2'd2: hdr_byte = t_n[7:0];
      default: hdr_byte = t_n[15:8];
    endcase
    case (t_idx[1:0])
      2'd0: trail_byte = rx_xor;
      2'd1: trail_byte = tx_xor;
      default: trail_byte = {4'b0, err};
    endcase
    case (t_idx)
      5'd0: info_byte = SYNC;
      5'd1: info_byte = 8'h82;
      5'd2: info_byte = 8'(VERSION);
      5'd3: info_byte = 8'(IN_BYTES);
      5'd4: info_byte = 8'(IN_BYTES >> 8);
      5'd5: info_byte = 8'(IN_WORDS);
      5'd6: info_byte = 8'(IN_WORDS >> 8);
      5'd7: info_byte = 8'(OUT_BYTES);
      5'd8: info_byte = 8'(OUT_BYTES >> 8);
      5'd9: info_byte = 8'(OUT_WORDS);
      5'd10: info_byte = 8'(OUT_WORDS >> 8);
      5'd11: info_byte = 8'(MAX_BATCH);
      5'd12: info_byte = 8'(MAX_BATCH >> 8);
      5'd13: info_byte = 8'(CLKS_PER_BIT);
      default: info_byte = 8'(CLKS_PER_BIT >> 8);
    endcase
    case (ts)
      T_HDR: begin tx_valid = 1'b1; tx_data = hdr_byte; end
      T_DATA: begin tx_valid = out_vld; tx_data = out_dat[t_byte*8+:8]; end
      T_TRAIL: begin tx_valid = 1'b1; tx_data = trail_byte; end
      T_INFO: begin tx_valid = 1'b1; tx_data = info_byte; end
      default: begin tx_valid = 1'b0; tx_data = 8'h00; end
    endcase
  end
  assign pop = (ts == T_DATA) && fire && t_word_end;
  assign err_busy = (run_req || info_req) && (ts != T_IDLE);
  assign clear_err = (ts == T_TRAIL) && fire && (t_idx[1:0] == 2'd2);

  always_ff @(posedge clk) begin
    if (rst) begin
      ts <= T_IDLE;
      t_idx <= '0;
      err <= '0;
    end else begin
      err <= (clear_err ? 4'b0 : err) | {err_busy, err_cmd, rx_ferr, err_lost};
      case (ts)
        T_IDLE: begin
          t_idx <= '0;
          if (run_req) begin
            ts <= T_HDR;
            t_n <= run_n;
            tx_xor <= '0;
          end else if (info_req) ts <= T_INFO;
        end
        T_HDR: if (fire) begin
          t_idx <= t_idx + 1'b1;
          if (t_idx == 5'd3) begin
            t_idx <= '0;
            ts <= (t_n == 0) ? T_TRAIL : T_DATA;
          end
        end
        T_DATA: if (fire) begin
          tx_xor <= tx_xor ^ tx_data;
          if (t_batch_end) ts <= T_TRAIL;
        end
        T_TRAIL: if (fire) begin
          t_idx <= t_idx + 1'b1;
          if (t_idx == 5'd2) ts <= T_IDLE;
        end
        T_INFO: if (fire) begin
          t_idx <= t_idx + 1'b1;
          if (t_idx == 5'(INFO_LEN - 1)) ts <= T_IDLE;
        end
        default: ts <= T_IDLE;
      endcase
    end
  end
  assign led = {|err, ts != T_IDLE};
endmodule
