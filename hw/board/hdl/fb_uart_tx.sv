// fewerbits board wrapper: UART transmitter, 8N1, CLKS_PER_BIT clock cycles per bit.
// A byte is taken when valid && ready (ready = idle); the line idles high.
module fb_uart_tx #(
  parameter int CLKS_PER_BIT = 25
) (
  input  logic       clk,
  input  logic       rst,
  input  logic [7:0] data,
  input  logic       valid,
  output logic       ready,
  output logic       tx
);
  localparam int CW = $clog2(CLKS_PER_BIT + 1);
  logic busy;
  logic [8:0] sh;  // data bits then the stop bit
  logic [3:0] left;  // bits still to send after the current one
  logic [CW-1:0] cnt;

  assign ready = !busy;

  always_ff @(posedge clk) begin
    if (rst) begin
      busy <= 1'b0;
      tx <= 1'b1;
      left <= '0;
      cnt <= '0;
    end else if (!busy) begin
      if (valid) begin
        busy <= 1'b1;
        tx <= 1'b0;  // start bit
        sh <= {1'b1, data};
        left <= 4'd9;
        cnt <= CW'(CLKS_PER_BIT - 1);
      end
    end else if (cnt != 0) begin
      cnt <= cnt - 1'b1;
    end else if (left != 0) begin
      tx <= sh[0];
      sh <= {1'b1, sh[8:1]};
      left <= left - 1'b1;
      cnt <= CW'(CLKS_PER_BIT - 1);
    end else begin
      busy <= 1'b0;  // the stop bit has been on the line for a whole bit time
    end
  end
endmodule
