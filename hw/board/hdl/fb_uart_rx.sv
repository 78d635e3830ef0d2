// fewerbits board wrapper: UART receiver, 8N1, CLKS_PER_BIT clock cycles per bit.
// Two-flop synchroniser, start bit confirmed at its middle, bits sampled mid-bit; a byte whose
// stop bit reads 0 is dropped and flagged (frame_err).
module fb_uart_rx #(
  parameter int CLKS_PER_BIT = 25
) (
  input  logic       clk,
  input  logic       rst,
  input  logic       rx,         // the line (idle high)
  output logic [7:0] data,
  output logic       valid,      // one cycle per received byte
  output logic       frame_err   // one cycle: stop bit was 0
);
  localparam int CW = $clog2(CLKS_PER_BIT + 1);
  typedef enum logic [1:0] {IDLE, START, BITS, STOP} state_t;
  state_t st;
  logic rx_m = 1'b1, rx_s = 1'b1;
  logic [CW-1:0] cnt;
  logic [2:0] nbit;
  logic [7:0] sh;

  always_ff @(posedge clk) begin
    rx_m <= rx;
    rx_s <= rx_m;
  end

  always_ff @(posedge clk) begin
    valid <= 1'b0;
    frame_err <= 1'b0;
    if (rst) begin
      st <= IDLE;
      cnt <= '0;
      nbit <= '0;
    end else begin
      case (st)
        IDLE: if (!rx_s) begin
          st <= START;
          cnt <= CW'(CLKS_PER_BIT / 2 - 1);
        end
        START: if (cnt == 0) begin
          if (!rx_s) begin
            st <= BITS;
            cnt <= CW'(CLKS_PER_BIT - 1);
            nbit <= '0;
          end else st <= IDLE;  // a glitch, not a start bit
        end else cnt <= cnt - 1'b1;
        BITS: if (cnt == 0) begin
          sh <= {rx_s, sh[7:1]};
          cnt <= CW'(CLKS_PER_BIT - 1);
          if (nbit == 3'd7) st <= STOP;
          else nbit <= nbit + 1'b1;
        end else cnt <= cnt - 1'b1;
        STOP: if (cnt == 0) begin
          st <= IDLE;
          if (rx_s) begin
            data <= sh;
            valid <= 1'b1;
          end else frame_err <= 1'b1;
        end else cnt <= cnt - 1'b1;
      endcase
    end
  end
endmodule
