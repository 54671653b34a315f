#pragma once
class SPIClass {};
extern SPIClass SPI;
